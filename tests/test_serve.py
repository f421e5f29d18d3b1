"""`specsize serve`, started for real (a subprocess on a free localhost port, bundled tiny-r1 with MTP) and
driven with the official `openai` client and httpx: completions, chat, streaming, concurrent requests equal to
their batch-1 greedy output, /metrics equal to the sum over the responses, bad input, a client that leaves
mid-stream, and SIGTERM finishing the request in flight."""

import asyncio
import json
import signal
import time

import httpx
import pytest

from tests.servers import start_serve as start
from tests.servers import stop_serve

openai = pytest.importorskip("openai")
parser = pytest.importorskip("prometheus_client.parser")

MODEL = "tiny-r1"


@pytest.fixture(scope="module")
def server():
    proc, url = start("--parallel", "4", "--max-waiting", "8", "-k", "3")
    yield url
    stop_serve(proc)


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server + "/v1", api_key="none", max_retries=0)


@pytest.fixture(scope="module")
def reference():
    """Plain greedy decoding of one prompt alone, with the engine in this process."""
    from specsize.engine.generate import generate
    from specsize.engine.loader import find_model_dir, load_model
    from specsize.engine.tokenizer import Tokenizer

    root = find_model_dir(MODEL)
    target, tok = load_model(root).model.fuse(), Tokenizer.from_dir(root)

    def greedy(ids: list[int], n: int) -> str:
        return tok.decode(generate(target, ids, n, eos_ids=tok.eos_token_ids).token_ids)

    return tok, greedy


def spec(usage) -> dict:
    return usage.model_dump()["spec_decode"]


def scrape(url: str) -> dict:
    """/metrics parsed with prometheus-client's parser: {(sample name, position or None): value}."""
    out = {}
    for family in parser.text_string_to_metric_families(httpx.get(url + "/metrics").text):
        for s in family.samples:
            if s.labels.get("model_name") == MODEL:
                out[(s.name, s.labels.get("position"))] = s.value
    return out


def test_models_and_health(server, client):
    assert [m.id for m in client.models.list().data] == [MODEL]
    assert httpx.get(server + "/health").status_code == 200


def test_completion_is_batch1_greedy(client, reference):
    tok, greedy = reference
    r = client.completions.create(model=MODEL, prompt="The answer is", max_tokens=24, temperature=0)
    assert r.choices[0].text == greedy(tok.encode("The answer is"), 24)
    assert r.usage.prompt_tokens == len(tok.encode("The answer is"))
    assert r.usage.completion_tokens == 24 and r.choices[0].finish_reason == "length"
    assert spec(r.usage)["num_draft_tokens"] > 0


def test_chat_uses_the_template_and_streams_the_same_text(client, reference):
    tok, greedy = reference
    messages = [{"role": "user", "content": "How many r are in strawberry?"}]
    ids = tok.encode(tok.apply_chat_template(messages), add_special=False)
    r = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=30, temperature=0)
    assert r.choices[0].message.content == greedy(ids, 30)
    assert r.usage.prompt_tokens == len(ids)  # the chat template's tokens included
    chunks = list(client.chat.completions.create(model=MODEL, messages=messages, max_tokens=30, temperature=0,
                                                 stream=True, stream_options={"include_usage": True}))  # fmt: skip
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == r.choices[0].message.content
    assert chunks[-1].usage.completion_tokens == r.usage.completion_tokens
    assert spec(chunks[-1].usage) == spec(r.usage)  # greedy: the same rounds


def test_stop_and_seeded_sampling(client, reference):
    tok, greedy = reference
    full = greedy(tok.encode("Once"), 40)
    stop = full[10:13]
    r = client.completions.create(model=MODEL, prompt="Once", max_tokens=40, temperature=0, stop=[stop])
    assert r.choices[0].text == full[: full.index(stop)] and r.choices[0].finish_reason == "stop"
    a, b = (client.completions.create(model=MODEL, prompt="Once", max_tokens=20, temperature=0.8, top_p=0.9,
                                      seed=7) for _ in range(2))  # fmt: skip
    assert a.choices[0].text == b.choices[0].text  # one at a time: the same batch, the same draws


def test_concurrent_requests_equal_batch1_and_metrics_sum(server, reference):
    """8 requests at once on 4 slots (rows join as others leave), each equal to its batch-1 greedy output; the
    counters /metrics gained equal the sum of the responses' own counters."""
    tok, greedy = reference
    prompts = [f"Question {i}: what is {i} plus {i * 3}?" for i in range(8)]
    before = scrape(server)

    async def ask(c, i, p):
        if i % 2:
            return await c.completions.create(model=MODEL, prompt=p, max_tokens=16 + i, temperature=0)
        stream = await c.completions.create(model=MODEL, prompt=p, max_tokens=16 + i, temperature=0, stream=True,
                                            stream_options={"include_usage": True})  # fmt: skip
        text, usage = "", None
        async for ch in stream:
            text += ch.choices[0].text if ch.choices else ""
            usage = ch.usage or usage
        return text, usage

    async def main():
        c = openai.AsyncOpenAI(base_url=server + "/v1", api_key="none", max_retries=0)
        return await asyncio.gather(*(ask(c, i, p) for i, p in enumerate(prompts)))

    results = asyncio.run(main())
    after = scrape(server)
    usages = []
    for i, (p, r) in enumerate(zip(prompts, results, strict=True)):
        text, usage = r if isinstance(r, tuple) else (r.choices[0].text, r.usage)
        assert text == greedy(tok.encode(p), 16 + i)
        usages.append(usage)

    def delta(name, pos=None):
        return after.get((name, pos), 0) - before.get((name, pos), 0)

    s = [spec(u) for u in usages]
    assert delta("vllm:spec_decode_num_drafts_total") == sum(x["num_drafts"] for x in s) > 0
    assert delta("vllm:spec_decode_num_draft_tokens_total") == sum(x["num_draft_tokens"] for x in s)
    assert delta("vllm:spec_decode_num_accepted_tokens_total") == sum(x["num_accepted_tokens"] for x in s)
    for pos in range(3):
        want = sum(x["num_accepted_tokens_per_pos"][pos] for x in s if len(x["num_accepted_tokens_per_pos"]) > pos)
        assert delta("vllm:spec_decode_num_accepted_tokens_per_pos_total", str(pos)) == want
    assert delta("vllm:prompt_tokens_total") == sum(u.prompt_tokens for u in usages)
    assert delta("vllm:generation_tokens_total") == sum(u.completion_tokens for u in usages)
    assert delta("vllm:time_to_first_token_seconds_count") == 8
    assert after[("vllm:num_requests_running", None)] == 0 and after[("vllm:num_requests_waiting", None)] == 0


@pytest.mark.parametrize(
    "body, status, says",
    [
        ('{"model": "nope", "prompt": "a"}', 404, "does not exist"),
        ("not json", 400, "not valid JSON"),
        ('["a list"]', 400, "JSON object"),
        ('{"model": "tiny-r1"}', 400, "prompt"),
        ('{"model": "tiny-r1", "prompt": "a", "temperature": -1}', 400, "temperature"),
        ('{"model": "tiny-r1", "prompt": "a", "top_p": 0}', 400, "top_p"),
        ('{"model": "tiny-r1", "prompt": "a", "max_tokens": 0}', 400, "max_tokens"),
        ('{"model": "tiny-r1", "prompt": "a", "n": 3}', 400, "n"),
        ('{"model": "tiny-r1", "prompt": [1, 99999]}', 400, "token ids"),
        ('{"model": "tiny-r1", "prompt": []}', 400, "empty"),
        ('{"model": "tiny-r1", "prompt": "' + "word " * 3000 + '"}', 400, "maximum context length"),
        ('{"model": "tiny-r1", "prompt": "' + "x" * (5 * 1024 * 1024) + '"}', 413, "limit"),
    ],
    ids=["model", "json", "array", "missing", "temperature", "top_p", "max_tokens", "n", "ids", "empty", "long",
         "huge"],
)  # fmt: skip
def test_bad_input_gets_openai_errors(server, body, status, says):
    r = httpx.post(server + "/v1/completions", content=body, headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == status
    assert says in r.json()["error"]["message"] and r.json()["error"]["code"] == status
    assert httpx.get(server + "/health").status_code == 200


def test_chat_bad_input_and_unknown_route(server):
    r = httpx.post(server + "/v1/chat/completions", json={"model": MODEL, "messages": []})
    assert r.status_code == 400 and "messages" in r.json()["error"]["message"]
    r = httpx.post(
        server + "/v1/chat/completions", json={"model": MODEL, "messages": [{"role": "robot", "content": ""}]}
    )
    assert r.status_code == 400
    assert httpx.get(server + "/v2/nothing").status_code == 404


def test_full_queue_answers_503(server):
    """4 slots and 8 places in the queue: of 20 long requests at once, the ones beyond 12 get 503."""

    async def main():
        async with httpx.AsyncClient(timeout=120) as c:
            body = {"model": MODEL, "prompt": "Count", "max_tokens": 60, "ignore_eos": True, "temperature": 0}
            return await asyncio.gather(*(c.post(server + "/v1/completions", json=body) for _ in range(20)))

    codes = [r.status_code for r in asyncio.run(main())]
    assert set(codes) == {200, 503} and codes.count(503) >= 8
    assert httpx.get(server + "/health").status_code == 200


def test_disconnect_mid_stream_frees_the_slot(server):
    body = {"model": MODEL, "prompt": "Tell", "max_tokens": 900, "ignore_eos": True, "temperature": 0, "stream": True}
    before = scrape(server)[("vllm:generation_tokens_total", None)]
    with httpx.stream("POST", server + "/v1/completions", json=body, timeout=30) as r:
        lines = r.iter_lines()
        got = [next(lines) for _ in range(6)]
    assert any(line.startswith("data: ") for line in got)
    deadline = time.time() + 20
    while scrape(server)[("vllm:num_requests_running", None)] and time.time() < deadline:
        time.sleep(0.2)
    after = scrape(server)
    assert after[("vllm:num_requests_running", None)] == 0
    assert after[("vllm:generation_tokens_total", None)] - before < 900  # stopped long before max_tokens


def test_disconnect_while_waiting_for_a_whole_answer(server):
    body = {"model": MODEL, "prompt": "Tell", "max_tokens": 900, "ignore_eos": True, "temperature": 0}
    before = scrape(server)[("vllm:generation_tokens_total", None)]
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(server + "/v1/completions", json=body, timeout=1.0)
    deadline = time.time() + 20
    while scrape(server)[("vllm:num_requests_running", None)] and time.time() < deadline:
        time.sleep(0.2)
    after = scrape(server)
    assert after[("vllm:num_requests_running", None)] == 0
    assert after[("vllm:generation_tokens_total", None)] - before < 900


def test_sigterm_finishes_the_request_in_flight():
    proc, url = start("--parallel", "2", "--method", "ngram")
    try:
        body = {"model": MODEL, "prompt": "Go", "max_tokens": 150, "ignore_eos": True, "temperature": 0,
                "stream": True}  # fmt: skip
        with httpx.stream("POST", url + "/v1/completions", json=body, timeout=60) as r:
            lines = r.iter_lines()
            next(lines)
            proc.send_signal(signal.SIGTERM)
            refused, deadline = False, time.time() + 10
            while not refused and time.time() < deadline:  # no new requests once the signal is handled
                try:
                    refused = httpx.get(url + "/health", timeout=2).status_code == 503
                except httpx.HTTPError:
                    refused = True
                time.sleep(0.1)
            rest = [x for x in lines if x]
        assert refused
        events = [json.loads(x[6:]) for x in rest if x.startswith("data: {")]
        assert events[-1]["choices"][0]["finish_reason"] == "length" and rest[-1] == "data: [DONE]"
        # uvicorn re-raises the signal once it has shut down gracefully: the exit is by SIGTERM, not a crash
        assert proc.wait(30) in (0, -signal.SIGTERM)
        assert "Traceback" not in proc.stdout.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
