"""Thin trigger adapters: parse the binding, call one function in shared_code, shape the reply."""
