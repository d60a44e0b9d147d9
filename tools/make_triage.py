"""Write the support-ticket triage example: training tickets and held-out eval tickets.

    python tools/make_triage.py          # writes data/support/triage.jsonl, evals/support/triage.jsonl
    python tools/make_triage.py --check  # exit 1 if the committed files differ from what it writes

Every ticket is composed from hand-written parts: an opener, one problem sentence about a
product, and one impact sentence that sets the priority. The label (category, priority,
product, language) follows from the parts, and the one-line reply is the support team's
standard reply for the category, in the ticket's language. The eval tickets are held out:
each uses a problem sentence that no training ticket uses, so no eval ticket is a training
ticket with the product or the opener swapped. Deterministic (a fixed seed), so the committed
files are reproducible byte for byte.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRAIN_PATH = ROOT / "data" / "support" / "triage.jsonl"
EVAL_PATH = ROOT / "evals" / "support" / "triage.jsonl"
INSTRUCTION = "Triage this ticket as JSON:"
PRODUCTS = ["W5500", "W5100S", "W6100", "W7500", "WIZ850io"]
CATEGORIES = ["network", "hardware", "firmware", "order"]
PRIORITIES = ["high", "medium", "low"]
HELD_OUT = 3  # the last HELD_OUT problem sentences of each category and language are eval-only
PER_PROBLEM = 3  # training tickets per training problem sentence: one per priority
SEED = 12

# Problem sentences, {p} = the product. The first ones train, the last HELD_OUT are eval-only.
PROBLEMS: dict[str, dict[str, list[str]]] = {
    "network": {
        "en": [
            "Our {p} board never gets an IP address from DHCP.",
            "The link LED on our {p} stays off when the cable is plugged in.",
            "Our {p} answers ping for a few minutes and then stops.",
            "Two {p} devices on the same network keep reporting an IP conflict.",
            "TCP connections from our {p} drop every few hours.",
            "DNS lookups on our {p} always time out.",
            "Our {p} loses packets when the network is busy.",
            "The {p} cannot join the VLAN our IT team set up.",
            "UDP broadcasts from our {p} never reach the other devices.",
            "Our {p} cannot reach the server when it is behind the office router.",
            "The {p} shows link up, but no packets come back from the gateway.",
            "After a switch reboot our {p} never reconnects to the network.",
        ],
        "ko": [
            "{p} 보드가 DHCP에서 IP 주소를 받지 못합니다.",
            "케이블을 꽂아도 {p}의 링크 LED가 켜지지 않습니다.",
            "{p}가 몇 분 동안 ping에 응답하다가 멈춥니다.",
            "같은 네트워크의 {p} 장비 두 대가 계속 IP 충돌을 보고합니다.",
            "{p}의 TCP 연결이 몇 시간마다 끊어집니다.",
            "{p}에서 DNS 조회가 항상 시간 초과됩니다.",
            "네트워크가 바쁠 때 {p}가 패킷을 잃어버립니다.",
            "{p}가 IT팀이 만든 VLAN에 들어가지 못합니다.",
            "{p}의 UDP 브로드캐스트가 다른 장비에 도달하지 않습니다.",
            "사무실 공유기 뒤에 있으면 {p}가 서버에 접속하지 못합니다.",
            "{p}는 링크가 올라오는데 게이트웨이에서 패킷이 돌아오지 않습니다.",
            "스위치를 재부팅하면 {p}가 네트워크에 다시 붙지 않습니다.",
        ],
    },
    "hardware": {
        "en": [
            "The {p} on our new board gets very hot within a minute.",
            "Our {p} does not start after power-up unless we press reset.",
            "We see a lot of noise on the 3.3 V rail next to the {p}.",
            "The 25 MHz crystal on our {p} board does not oscillate.",
            "Our {p} resets whenever a relay on the same board switches.",
            "The {p} on our board fails when the supply drops to 3.0 V.",
            "Solder joints under the {p} crack after thermal cycling.",
            "Our {p} board does not pass the EMC radiated emission test.",
            "The {p} stops working when we touch the RJ45 shield.",
            "The {p} draws far more current than the datasheet says.",
            "One pin of the {p} was damaged after an ESD test.",
            "Our {p} module fails at low temperature in the climate chamber.",
        ],
        "ko": [
            "새 보드에 올린 {p}가 1분 만에 매우 뜨거워집니다.",
            "전원을 켜면 리셋 버튼을 눌러야만 {p}가 동작합니다.",
            "{p} 옆의 3.3V 전원 라인에 노이즈가 많이 보입니다.",
            "{p} 보드의 25MHz 크리스털이 발진하지 않습니다.",
            "같은 보드의 릴레이가 동작할 때마다 {p}가 리셋됩니다.",
            "전원이 3.0V로 떨어지면 보드의 {p}가 동작하지 않습니다.",
            "열 사이클 시험 후 {p} 아래 납땜이 갈라집니다.",
            "{p} 보드가 EMC 방사 시험을 통과하지 못합니다.",
            "RJ45 실드를 만지면 {p}가 멈춥니다.",
            "{p}가 데이터시트보다 훨씬 많은 전류를 소모합니다.",
            "ESD 시험 후 {p}의 핀 하나가 손상되었습니다.",
            "챔버 저온 시험에서 {p} 모듈이 동작하지 않습니다.",
        ],
    },
    "firmware": {
        "en": [
            "The ioLibrary example for the {p} does not compile with our toolchain.",
            "Our {p} socket stays in SOCK_INIT and never opens.",
            "Reading VERSIONR on the {p} over SPI returns 0x00 in our driver.",
            "The Arduino Ethernet library hangs in begin() on our {p}.",
            "After our firmware update the {p} sends corrupted UDP packets.",
            "Our bootloader cannot jump to the application on the {p}.",
            "Socket buffers on the {p} overflow in our driver code.",
            "Register reads from the {p} return stale values in our SPI driver.",
            "The {p} example code no longer builds after our SDK upgrade.",
            "Our RTOS task freezes inside the {p} send() call.",
            "The {p} interrupt handler in our code never fires.",
            "Our MQTT client code on the {p} crashes after a reconnect.",
        ],
        "ko": [
            "{p}용 ioLibrary 예제가 저희 툴체인에서 컴파일되지 않습니다.",
            "{p} 소켓이 SOCK_INIT 상태에서 열리지 않습니다.",
            "드라이버에서 SPI로 {p}의 VERSIONR을 읽으면 0x00이 나옵니다.",
            "{p}에서 아두이노 Ethernet 라이브러리가 begin()에서 멈춥니다.",
            "펌웨어 업데이트 후 {p}가 깨진 UDP 패킷을 보냅니다.",
            "{p}에서 부트로더가 애플리케이션으로 점프하지 못합니다.",
            "저희 드라이버 코드에서 {p} 소켓 버퍼가 넘칩니다.",
            "SPI 드라이버에서 {p} 레지스터를 읽으면 이전 값이 나옵니다.",
            "SDK를 업그레이드한 후 {p} 예제 코드가 빌드되지 않습니다.",
            "RTOS 태스크가 {p}의 send() 호출 안에서 멈춥니다.",
            "저희 코드에서 {p} 인터럽트 핸들러가 호출되지 않습니다.",
            "재접속 후 {p}의 MQTT 클라이언트 코드가 멈춥니다.",
        ],
    },
    "order": {
        "en": [
            "We ordered 500 {p} chips and the shipment has not arrived.",
            "Can you send us a quote for 2,000 {p} units?",
            "The invoice for our {p} order shows the wrong quantity.",
            "We received {p} reels with the wrong part number on the label.",
            "What is the current lead time for the {p}?",
            "We want to place a repeat order for 1,000 {p} chips.",
            "Is the {p} going to reach end of life soon?",
            "Please send us your {p} price list for next year.",
            "Our {p} shipment arrived with damaged packaging.",
            "We need samples of the {p} for a new design.",
            "Our distributor says the {p} is out of stock until next quarter.",
            "Please cancel the second half of our {p} purchase order.",
        ],
        "ko": [
            "{p} 500개를 주문했는데 아직 배송이 오지 않았습니다.",
            "{p} 2,000개 견적을 보내 주실 수 있나요?",
            "{p} 주문 인보이스의 수량이 잘못되어 있습니다.",
            "받은 {p} 릴의 라벨에 다른 부품 번호가 적혀 있습니다.",
            "{p}의 현재 납기가 어떻게 되나요?",
            "{p} 1,000개를 재주문하고 싶습니다.",
            "{p}가 곧 단종되나요?",
            "내년 {p} 가격표를 보내 주세요.",
            "{p} 배송품의 포장이 파손되어 도착했습니다.",
            "새 설계에 쓸 {p} 샘플이 필요합니다.",
            "대리점에서 {p} 재고가 다음 분기까지 없다고 합니다.",
            "{p} 구매 주문의 나머지 절반을 취소해 주세요.",
        ],
    },
}

# Impact sentences: they set the priority.
IMPACTS: dict[str, dict[str, list[str]]] = {
    "high": {
        "en": ["Our production line is stopped.", "Hundreds of installed units are affected.",
               "This blocks a customer shipment tomorrow.", "It is urgent: the whole site is down."],
        "ko": ["생산 라인이 멈췄습니다.", "현장에 설치된 장비 수백 대가 영향을 받고 있습니다.",
               "내일 고객 출하가 이 문제로 막혀 있습니다.", "급합니다. 현장 전체가 멈췄습니다."],
    },
    "medium": {
        "en": ["It happens on a few prototype boards.", "We have a workaround for now.",
               "It affects our test bench, not customers.", "We would like a fix within a few weeks."],
        "ko": ["시제품 보드 몇 대에서 발생합니다.", "지금은 임시 해결책으로 버티고 있습니다.",
               "고객이 아니라 시험용 장비에서만 발생합니다.", "몇 주 안에 해결되면 좋겠습니다."],
    },
    "low": {
        "en": ["No rush, just asking.", "It is for a hobby project.",
               "We are only evaluating the chip for now.", "Whenever you have time."],
        "ko": ["급하지 않습니다. 궁금해서 여쭤봅니다.", "개인 취미 프로젝트입니다.",
               "아직 칩을 검토하는 단계입니다.", "시간 되실 때 답변 주세요."],
    },
}

OPENERS = {"en": ["", "Hi.", "Hello support team.", "Good morning."],
           "ko": ["", "안녕하세요.", "수고 많으십니다.", "문의드립니다."]}

# The team's standard one-line reply per category, {p} = the product.
REPLIES = {
    "network": {"en": "Please send your {p} network settings and a packet capture.",
                "ko": "{p} 네트워크 설정과 패킷 캡처를 보내 주세요."},
    "hardware": {"en": "Please send your {p} schematic and board photos for a review.",
                 "ko": "{p} 회로도와 보드 사진을 보내 주시면 검토하겠습니다."},
    "firmware": {"en": "Please send your {p} driver version and the failing code.",
                 "ko": "{p} 드라이버 버전과 문제가 되는 코드를 보내 주세요."},
    "order": {"en": "Our sales team will contact you about the {p} order today.",
              "ko": "{p} 주문 건은 오늘 영업팀에서 연락드리겠습니다."},
}

# What a triage answer must look like (the eval's json_schema scorer reads this file).
SCHEMA = {
    "type": "object",
    "required": ["category", "priority", "product", "language", "reply"],
    "additionalProperties": False,
    "properties": {
        "category": {"enum": CATEGORIES},
        "priority": {"enum": PRIORITIES},
        "product": {"enum": PRODUCTS},
        "language": {"enum": ["ko", "en"]},
        "reply": {"type": "string", "minLength": 1, "maxLength": 120},
    },
}
SCHEMA_PATH = ROOT / "evals" / "support" / "triage.schema.json"


def ticket_text(lang: str, opener: str, problem: str, impact: str) -> str:
    return " ".join(part for part in (opener, problem, impact) if part)


def label(category: str, priority: str, product: str, lang: str) -> dict[str, str]:
    return {"category": category, "priority": priority, "product": product, "language": lang,
            "reply": REPLIES[category][lang].format(p=product)}


def answer(labels: dict[str, str]) -> str:
    return json.dumps(labels, ensure_ascii=False)


def tickets(rng: random.Random, held_out: bool) -> list[dict]:
    """Tickets as dicts: text, labels, problem (the sentence template used), tags."""
    out = []
    for category in CATEGORIES:
        for lang in ("en", "ko"):
            problems = PROBLEMS[category][lang]
            chosen = problems[-HELD_OUT:] if held_out else problems[:-HELD_OUT]
            for problem in chosen:
                priorities = rng.sample(PRIORITIES, 1 if held_out else PER_PROBLEM)
                for priority in priorities:
                    product = rng.choice(PRODUCTS)
                    text = ticket_text(lang, rng.choice(OPENERS[lang]), problem.format(p=product),
                                       rng.choice(IMPACTS[priority][lang]))
                    out.append({"text": text, "labels": label(category, priority, product, lang),
                                "problem": problem, "tags": [lang, category, priority]})
    rng.shuffle(out)
    return out


def prompt(text: str) -> str:
    return f"{INSTRUCTION}\n{text}"


def render() -> dict[Path, str]:
    """File path -> content, for the training file, the eval file and the schema."""
    # two generators: adding training tickets never changes the held-out ones
    train, held = tickets(random.Random(SEED), False), tickets(random.Random(SEED + 1), True)
    train_lines = [json.dumps({"messages": [{"role": "user", "content": prompt(t["text"])},
                                            {"role": "assistant", "content": answer(t["labels"])}]},
                              ensure_ascii=False) for t in train]
    eval_lines = []
    for i, t in enumerate(held, 1):
        case = {"id": f"triage-{i:02d}", "messages": [{"role": "user", "content": prompt(t["text"])}],
                "ideal": answer(t["labels"]), "tags": t["tags"]}
        eval_lines.append(json.dumps(case, ensure_ascii=False))
    return {TRAIN_PATH: "\n".join(train_lines) + "\n", EVAL_PATH: "\n".join(eval_lines) + "\n",
            SCHEMA_PATH: json.dumps(SCHEMA, indent=2) + "\n"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed files, write nothing")
    args = parser.parse_args(argv)
    stale = []
    for path, text in render().items():
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current == text:
            continue
        stale.append(path.relative_to(ROOT).as_posix())
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if args.check and stale:
        print(f"error: {', '.join(stale)}: differ from what tools/make_triage.py writes; run it", file=sys.stderr)
        return 1
    print(("wrote: " + ", ".join(stale)) if stale else "up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
