"""``ftspec serve``: a spec's local model behind the OpenAI API, answering as ``ftspec eval`` measured.

* ``protocol``: request checks and OpenAI's response/error shapes; requests are built by the eval
  path's ``eval_request`` through the spec's template.
* ``model``: the served model (engine, template, context length).
* ``batcher``: dynamic batching into the local provider's batched generation, with streaming.
* ``app``: the Starlette routes; ``server``: loading, binding and running it on uvicorn.

Needs the ``serve`` extra (starlette, uvicorn), imported only when a server starts.
"""
