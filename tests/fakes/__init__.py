"""Local servers that speak third-party wire protocols, for the real SDKs to talk to."""
