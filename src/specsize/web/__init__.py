"""`specsize web`: the planner as a web page (the optional extra `specsize[web]`: FastAPI, uvicorn, Jinja2)."""
