"""What the API answers, one module per resource, shared by REST, GraphQL and the dashboard.

Each function takes a MartReader and the caller's Scope and returns plain data
({"data": ..., "meta": ...}); it raises NotFound, Ambiguous or Invalid for the route to shape.
"""
