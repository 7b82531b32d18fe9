"""The owner web inbox's server side: login by a texted code, sessions, CSRF, page headers.

The page itself is static (`static/`: plain HTML, CSS and JS) and calls the owner API with the
session cookie; `api.auth` accepts the session as a second way in beside Bearer keys.
"""
