"""`kg serve`: the HTTP API and the web pages over one set of loaded models and store connections."""
