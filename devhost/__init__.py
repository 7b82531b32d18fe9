"""devhost: the local Azure Functions host and Twilio simulator (never deployed).

Core Tools cannot run on this machine, so devhost loads `function_app.py` the way the Azure Python
worker does and serves its triggers locally. See `python -m devhost --help`.
"""
