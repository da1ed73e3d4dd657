"""The product API: the mart over HTTP (FastAPI), cached, versioned, authorised.

`app.create_app` is the ASGI app factory; `services/` hold what each resource answers (shared
by REST, GraphQL and the dashboard); `routes/` are the thin HTTP wiring.
"""
