"""Benchmark: ftspec validate + token count vs the cookbook notebook's algorithm.

Generates a deterministic 100k-example chat dataset (Korean and English, multi-turn), then in
the same process times
  * baseline: the notebook (json.loads per line, its format checks, then a Python loop calling
    ``encoding.encode`` for every message value: 3 per message, +1 per name, +3 priming);
  * ftspec: what ``ftspec validate`` runs: ``load_spec`` + ``validate_dataset(spec)`` (read,
    template, validate, count; on both cores when the dataset is large).
Prints examples/s for both, the ratio, and whether the token totals are identical.

    .venv/bin/python benchmarks/bench_tokens.py [--examples 100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from collections import defaultdict
from pathlib import Path

# Support-bot data as it is usually shaped: one long system prompt per product line (repeated
# in every example), multi-turn conversations, answers of a few sentences.
POLICY_EN = ("Follow the store policy: returns within 30 days for unused items, refunds 3-5 business days "
             "after the return arrives, free shipping over 50,000 KRW, express delivery in Seoul only, "
             "no personal data in replies, escalate legal or medical questions to a human agent, "
             "never promise delivery dates you cannot see in the order system. ")
POLICY_KO = ("매장 정책을 따르세요: 미사용 상품은 30일 이내 반품, 반품 도착 후 영업일 3~5일 내 환불, "
             "5만 원 이상 무료 배송, 서울 지역만 당일 특급 배송, 답변에 개인정보 금지, "
             "법률·의료 질문은 상담원에게 연결, 주문 시스템에서 확인되지 않은 배송일은 약속하지 않기. ")
SYSTEMS = [
    "You are a helpful customer-support assistant for an online store. Answer briefly and politely. " + POLICY_EN * 3,
    "당신은 온라인 쇼핑몰의 친절한 고객 상담원입니다. 짧고 정중하게 답하세요. " + POLICY_KO * 3,
    "You answer questions about billing, shipping and returns in English or Korean. " + POLICY_EN * 2 + POLICY_KO,
]
EN_Q = ["Where is my order {n}?", "Can I return item {n} after {d} days?", "My card was charged twice for order {n}.",
        "How do I change the address on order {n}?", "Is product {n} available in size {d}?"]
EN_A = ["Order {n} left our warehouse {d} days ago and should arrive soon.",
        "Yes, returns are accepted within {d} days if the item is unused.",
        "I'm sorry about that. I have refunded the duplicate charge for order {n}; it takes {d} business days.",
        "Open Orders, select {n} and choose Edit address before it ships.",
        "Size {d} of product {n} is back in stock next week."]
EN_MORE = ["You can follow the parcel on the tracking page.", "Let me know if there is anything else I can do.",
           "Our team is available from 9 to 18 on weekdays.", "Please keep the original packaging for returns."]
KO_Q = ["주문 {n}번은 언제 도착하나요?", "{d}일이 지났는데 상품 {n} 반품 가능한가요?", "주문 {n}번이 두 번 결제되었어요.",
        "주문 {n}번 배송지를 바꾸고 싶어요.", "상품 {n} {d} 사이즈 재고 있나요?"]
KO_A = ["주문 {n}번은 {d}일 전에 출고되어 곧 도착할 예정입니다.", "미사용 상품은 {d}일 이내에 반품하실 수 있습니다.",
        "불편을 드려 죄송합니다. 중복 결제된 주문 {n}번 금액은 영업일 {d}일 안에 환불됩니다.",
        "주문 내역에서 {n}번 주문을 열고 출고 전에 '배송지 변경'을 눌러 주세요.", "상품 {n}의 {d} 사이즈는 다음 주에 재입고됩니다."]
KO_MORE = ["배송 조회 페이지에서 택배 위치를 확인하실 수 있습니다.", "더 궁금하신 점이 있으면 말씀해 주세요.",
           "상담 시간은 평일 9시부터 18시까지입니다.", "반품하실 때는 원래 포장을 보관해 주세요."]


def generate(path: Path, count: int) -> None:
    rng = random.Random(20261122)
    with open(path, "w", encoding="utf-8") as fh:
        for _ in range(count):
            korean = rng.random() < 0.5
            qs, answers, more = (KO_Q, KO_A, KO_MORE) if korean else (EN_Q, EN_A, EN_MORE)
            messages = [{"role": "system", "content": rng.choice(SYSTEMS)}]
            for _turn in range(rng.randint(1, 4)):
                n, d = rng.randint(1000, 999999), rng.randint(1, 30)
                k = rng.randrange(len(qs))
                answer = " ".join([answers[k].format(n=n, d=d), *rng.sample(more, rng.randint(1, 3))])
                messages.append({"role": "user", "content": qs[k].format(n=n, d=d)})
                messages.append({"role": "assistant", "content": answer})
            fh.write(json.dumps({"messages": messages}, ensure_ascii=False) + "\n")


def baseline(path: Path, encoding) -> tuple[int, int]:
    """The notebook, verbatim in spirit: load, check formats, count tokens per message."""
    with open(path, encoding="utf-8") as fh:
        dataset = [json.loads(line) for line in fh]
    errors: dict[str, int] = defaultdict(int)
    for ex in dataset:
        if not isinstance(ex, dict):
            errors["data_type"] += 1
            continue
        messages = ex.get("messages", None)
        if not messages:
            errors["missing_messages_list"] += 1
            continue
        for message in messages:
            if "role" not in message or "content" not in message:
                errors["message_missing_key"] += 1
            if any(k not in ("role", "content", "name", "function_call", "weight") for k in message):
                errors["message_unrecognized_key"] += 1
            if message.get("role", None) not in ("system", "user", "assistant", "function"):
                errors["unrecognized_role"] += 1
            content = message.get("content", None)
            function_call = message.get("function_call", None)
            if (not content and not function_call) or not isinstance(content, str):
                errors["missing_content"] += 1
        if not any(message.get("role", None) == "assistant" for message in messages):
            errors["example_missing_assistant_message"] += 1
    total = 0
    for ex in dataset:
        num_tokens = 0
        for message in ex["messages"]:
            num_tokens += 3
            for key, value in message.items():
                num_tokens += len(encoding.encode(value))
                if key == "name":
                    num_tokens += 1
        num_tokens += 3
        total += num_tokens
    assert not errors, errors
    return len(dataset), total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from ftspec.data.parallel import validate_dataset
    from ftspec.data.tokens import counter_for_model, load_encoding
    from ftspec.spec.loader import load_spec

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = root / "chats.jsonl"
        generate(data, args.examples)
        (root / "spec.yaml").write_text(
            "ftspec: 1\nname: bench\nprovider: openai\nbase_model: gpt-4o-mini-2024-07-18\n"
            "sources:\n  - path: chats.jsonl\n    format: chat_jsonl\ntemplate:\n  type: chat\n",
            encoding="utf-8")
        print(f"dataset: {args.examples:,} examples, {data.stat().st_size / 1e6:.1f} MB "
              "(multi-turn, half Korean; a long system prompt repeated per product line)")
        encoding = load_encoding("o200k_base")
        encoding.encode("warm up")  # both sides load their vocabulary before the clock starts
        counter_for_model("gpt-4o-mini-2024-07-18").count_texts(["warm up"])

        # Interleaved repeats, best of each: the machine is shared, and the minimum is the
        # run least disturbed by other processes (both sides get the same treatment).
        t_base = t_ftspec = float("inf")
        for _ in range(args.repeats):
            start = time.perf_counter()
            n_base, tokens_base = baseline(data, encoding)
            t_base = min(t_base, time.perf_counter() - start)

            start = time.perf_counter()
            result = validate_dataset(load_spec(root / "spec.yaml"))
            t_ftspec = min(t_ftspec, time.perf_counter() - start)
            n_ftspec = result.counts["train"] + result.counts["validation"]
            tokens_ftspec = result.manifest["tokens"]["train"]["total"] + result.manifest["tokens"]["validation"]["total"]

    print(f"best of {args.repeats} runs each, interleaved")
    print(f"baseline (notebook loop): {n_base / t_base:,.0f} examples/s ({t_base:.2f} s), tokens {tokens_base:,}")
    print(f"ftspec validate + count : {n_ftspec / t_ftspec:,.0f} examples/s ({t_ftspec:.2f} s), tokens {tokens_ftspec:,}")
    print(f"ratio: {t_base / t_ftspec:.2f}x")
    print(f"token totals identical: {tokens_base == tokens_ftspec and n_base == n_ftspec}")


if __name__ == "__main__":
    main()
