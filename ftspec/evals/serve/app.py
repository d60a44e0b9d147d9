"""The Starlette app: ``/v1/models``, ``/v1/chat/completions``, ``/v1/completions``, ``/health``.

Every answer is JSON in OpenAI's shapes; every failure (bad JSON, a bad parameter, an unknown
model or route, a wrong key, a generation error) is OpenAI's error object with its status, never
a traceback. Streaming answers are server-sent events ending with ``data: [DONE]``.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from typing import Any

from ftspec.evals.serve import protocol
from ftspec.evals.serve.batcher import Batcher, Job
from ftspec.evals.serve.protocol import APIError

log = logging.getLogger("ftspec.serve")


def create_app(served, batcher: Batcher, *, api_key: str | None = None):
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response, StreamingResponse
    from starlette.routing import Route

    def error_response(exc: APIError) -> Response:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers)

    def authorised(request: Request) -> bool:
        if not api_key:
            return True
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), api_key.encode())

    async def read_json(request: Request) -> Any:
        raw = await request.body()
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise APIError(400, "We could not parse the JSON body of your request. The body must be JSON.",
                           code="invalid_json") from None

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "model": served.id, "batches": batcher.batches,
                             "requests": batcher.requests, "cancelled": batcher.cancelled})

    async def list_models(request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [protocol.model_body(served.id, served.created)]})

    async def get_model(request: Request) -> Response:
        name = request.path_params["model"]
        if not served.answers_to(name):
            raise APIError(404, f"The model '{name}' does not exist; this server serves '{served.id}'.",
                           param="model", code="model_not_found")
        return JSONResponse(protocol.model_body(served.id, served.created))

    async def run_jobs(parsed: protocol.Parsed) -> list[Any]:
        loop = asyncio.get_running_loop()
        jobs = [Job(r, loop) for r in parsed.requests]
        for job in jobs:
            batcher.submit(job)
        try:
            return [await _result(job) for job in jobs]
        except asyncio.CancelledError:
            for job in jobs:
                job.cancelled = True
            raise

    async def chat(request: Request) -> Response:
        parsed = protocol.parse_chat(await read_json(request), served)
        if parsed.stream:
            return stream(parsed, chat=True)
        result, = await run_jobs(parsed)
        body = protocol.chat_body(protocol.new_id("chatcmpl"), parsed.model, protocol.now(), result.choices,
                                  result.finish_reasons, protocol.usage(result.prompt_tokens, result.completion_tokens))
        return JSONResponse(body)

    async def completions(request: Request) -> Response:
        parsed = protocol.parse_completion(await read_json(request), served)
        if parsed.stream:
            return stream(parsed, chat=False)
        results = await run_jobs(parsed)
        texts = [t for r in results for t in r.choices]
        reasons = [f for r in results for f in r.finish_reasons]
        use = protocol.usage(sum(r.prompt_tokens for r in results), sum(r.completion_tokens for r in results))
        return JSONResponse(protocol.completion_body(protocol.new_id("cmpl"), parsed.model, protocol.now(),
                                                     texts, reasons, use))

    def stream(parsed: protocol.Parsed, *, chat: bool) -> Response:
        rid = protocol.new_id("chatcmpl" if chat else "cmpl")
        created = protocol.now()
        loop = asyncio.get_running_loop()
        jobs = [Job(r, loop, stream=True) for r in parsed.requests]
        n = max(1, parsed.requests[0].n)

        def chunk(index: int, text: str | None, finish: str | None = None, first: bool = False) -> str:
            if chat:
                delta: dict[str, Any] = {}
                if first:
                    delta["role"] = "assistant"
                if text is not None:
                    delta["content"] = text
                body = protocol.chat_chunk(rid, parsed.model, created, index, delta, finish)
            else:
                body = protocol.completion_chunk(rid, parsed.model, created, index, text or "", finish)
            return _event(body)

        async def events():
            for job in jobs:
                batcher.submit(job)
            try:
                if chat:
                    for index in range(n):
                        yield chunk(index, "", first=True)
                prompt_tokens = completion_tokens = 0
                for p, job in enumerate(jobs):
                    sent = [""] * n
                    while True:
                        kind, *rest = await job.events.get()
                        if kind == "delta":
                            choice, text = rest
                            sent[choice] += text
                            yield chunk(p * n + choice, text)
                        elif kind == "error":
                            yield _event(_generation_error(rest[0]).body())
                            return
                        else:
                            result = rest[0]
                            break
                    prompt_tokens += result.prompt_tokens
                    completion_tokens += result.completion_tokens
                    for choice, (text, reason) in enumerate(zip(result.choices, result.finish_reasons, strict=True)):
                        rest_text = text[len(sent[choice]):] if text.startswith(sent[choice]) else ""
                        if rest_text:
                            yield chunk(p * n + choice, rest_text)
                        yield chunk(p * n + choice, None, reason)
                if parsed.include_usage:
                    use = protocol.usage(prompt_tokens, completion_tokens)
                    if chat:
                        body = {"id": rid, "object": "chat.completion.chunk", "created": created,
                                "model": parsed.model, "choices": [], "usage": use}
                    else:
                        body = {"id": rid, "object": "text_completion", "created": created,
                                "model": parsed.model, "choices": [], "usage": use}
                    yield _event(body)
                yield "data: [DONE]\n\n"
            finally:  # the client went away (or the stream ended): stop its rows
                for job in jobs:
                    job.cancelled = True

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/models/{model:path}", get_model, methods=["GET"]),
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/v1/completions", completions, methods=["POST"]),
    ]

    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, APIError)
        return error_response(exc)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            error = APIError(404, f"Unknown request URL: {request.method} {request.url.path}.", code="unknown_url")
        elif exc.status_code == 405:
            error = APIError(405, f"Method {request.method} is not allowed on {request.url.path}.",
                             code="method_not_allowed")
        else:
            error = APIError(exc.status_code, str(exc.detail))
        return error_response(error)

    async def on_crash(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error answering %s %s", request.method, request.url.path)
        return error_response(APIError(500, f"The server had an error processing your request: "
                                            f"{type(exc).__name__}", type_="server_error"))

    app = Starlette(routes=routes, exception_handlers={APIError: on_api_error, HTTPException: on_http_error,
                                                       Exception: on_crash})

    async def asgi(scope, receive, send):
        """Authentication first, on every HTTP request (an unknown route included)."""
        if scope["type"] == "http" and not authorised(Request(scope)):
            response = error_response(APIError(
                401, "Incorrect API key provided. Pass the server's key as 'Authorization: Bearer <key>'.",
                code="invalid_api_key"))
            await response(scope, receive, send)
            return
        await app(scope, receive, send)

    return asgi


async def _result(job: Job):
    while True:
        kind, *rest = await job.events.get()
        if kind == "done":
            return rest[0]
        if kind == "error":
            raise _generation_error(rest[0])


def _generation_error(exc: Exception) -> APIError:
    return APIError(500, f"The server had an error while generating: {type(exc).__name__}: {exc}",
                    type_="server_error", code="generation_failed")


def _event(body: dict[str, Any]) -> str:
    return f"data: {json.dumps(body, ensure_ascii=False, separators=(',', ':'))}\n\n"
