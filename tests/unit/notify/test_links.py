"""spec.notify.links: a dashboard, logs or runbook link in every notification, filled in for the run."""

from __future__ import annotations

import json

import pytest

from rollout.notify.blocks import MAX_TEXT, event_blocks, links_text, plain_text, summary_blocks
from rollout.notify.facts import as_json, facts
from rollout.notify.links import links
from rollout.spec import SpecError
from rollout.spec.loader import load_experiments_text
from rollout.spec.models import Experiment
from rollout.status import Phase, Source
from tests.unit.notify import events

GRAFANA = "https://grafana.example/d/canary?var-ns={namespace}&var-svc={service}&var-v={canary}&from={start}&to={end}"


def with_links(*entries: str) -> Experiment:
    items = "".join(f"\n      - {entry}" for entry in entries)
    text = f"""\
apiVersion: meshroll.io/v1alpha1
kind: Experiment
metadata: {{name: checkout-v2, namespace: shop}}
spec:
  target: {{service: checkout, stable: {{version: v1}}, canary: {{version: v2}}}}
  mesh: {{provider: local}}
  strategy: {{canary: {{steps: [10, 50], stepInterval: 1m}}}}
  analysis: {{metrics: [{{name: error-rate, template: istio-error-rate}}]}}
  notify:
    links:{items}
"""
    return load_experiments_text(text, "x.yaml")[0]


def problems(*entries: str) -> list[str]:
    with pytest.raises(SpecError) as caught:
        with_links(*entries)
    return [str(p) for p in caught.value.problems]


def test_a_link_s_placeholders_are_filled_in_for_the_run() -> None:
    experiment = with_links(f'{{name: Grafana, url: "{GRAFANA}"}}')
    running = events.status(started_at=1_700_000_000.0)

    (link,) = links(experiment, running)

    assert link.name == "Grafana"
    assert link.url == (
        "https://grafana.example/d/canary?var-ns=shop&var-svc=checkout&var-v=v2&from=1700000000000&to=now"
    ), "while the run goes on, the dashboard runs to now"


def test_an_ended_run_s_link_ends_when_the_run_ended() -> None:
    experiment = with_links(f'{{name: Grafana, url: "{GRAFANA}"}}')
    ended = events.status(phase=Phase.ROLLED_BACK, weight=0, started_at=1_700_000_000.0)

    (link,) = links(experiment, ended)

    assert link.url.endswith("&from=1700000000000&to=1700000060000")


def test_values_are_percent_encoded_so_they_cannot_change_the_url_s_shape() -> None:
    experiment = with_links('{name: Logs, url: "https://logs.example/q?version={canary}&sha={commit}"}')
    annotated = events.status().model_copy(update={"source": Source(commit="main&user=admin#x")})

    (link,) = links(experiment, annotated)

    assert link.url == "https://logs.example/q?version=v2&sha=main%26user%3Dadmin%23x"


def test_literal_braces_are_written_twice() -> None:
    experiment = with_links('{name: Search, url: "https://search.example/?q={{\\"svc\\":\\"{service}\\"}}"}')

    (link,) = links(experiment, events.status())

    assert link.url == 'https://search.example/?q={"svc":"checkout"}'


def test_slack_messages_show_the_links_escaped_for_mrkdwn() -> None:
    experiment = with_links(f'{{name: Grafana, url: "{GRAFANA}"}}', '{name: Runbook, url: "https://wiki.example/run"}')
    f = facts(experiment, events.status(started_at=1_700_000_000.0), events.advanced())

    for blocks in (summary_blocks(f), event_blocks(f)):
        contexts = [b["elements"][0]["text"] for b in blocks if b["type"] == "context"]
        assert (
            "<https://grafana.example/d/canary?var-ns=shop&amp;var-svc=checkout&amp;var-v=v2&amp;"
            "from=1700000000000&amp;to=now|Grafana> · <https://wiki.example/run|Runbook>"
        ) in contexts
    assert "links: Grafana https://grafana.example/d/canary?var-ns=shop&var-svc=checkout" in plain_text(f)


def test_the_webhook_body_lists_the_links() -> None:
    experiment = with_links('{name: Runbook, url: "https://wiki.example/{namespace}/{name}"}')
    body = as_json(facts(experiment, events.status(), events.advanced()))

    assert json.loads(json.dumps(body))["links"] == [
        {"name": "Runbook", "url": "https://wiki.example/shop/checkout-v2"}
    ]


def test_an_experiment_without_links_shows_none() -> None:
    f = facts(events.experiment(), events.status(), events.advanced())
    assert f.links == ()
    assert as_json(f)["links"] == []
    assert "links:" not in plain_text(f)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            '{name: Logs, url: "https://logs.example/{servce}"}',
            "x.yaml:11:22 spec.notify.links[0].url: {servce} is not a placeholder; use one of {namespace}, {name}, "
            "{service}, {stable}, {canary}, {start}, {end}, {commit}",
        ),
        (
            '{name: Logs, url: "https://logs.example/{service"}',
            "x.yaml:11:22 spec.notify.links[0].url: the URL has an unmatched brace; write a placeholder as {service}, "
            "a literal brace as {{ or }}",
        ),
        (
            '{name: Logs, url: "https://logs.example/{start:%Y}"}',
            "x.yaml:11:22 spec.notify.links[0].url: {start} takes no format or conversion; write it as {start}",
        ),
    ],
)
def test_a_placeholder_typo_is_refused_where_it_is_written(entry: str, message: str) -> None:
    assert problems(entry) == [message]


def test_a_link_must_be_http_or_https() -> None:
    (scheme,) = problems('{name: Logs, url: "javascript:alert(1)"}')
    assert scheme.endswith(
        "spec.notify.links[0].url: a link is an http:// or https:// URL template, not 'javascript:alert(1)'"
    )


def test_links_too_long_for_one_message_are_left_out_whole_never_cut_inside() -> None:
    long = "https://grafana.example/d/" + "a" * 1900
    experiment = with_links(*[f'{{name: "L{i}", url: "{long}?n={i}"}}' for i in range(5)])
    text = links_text(facts(experiment, events.status(), events.advanced()))
    assert text is not None and len(text) <= MAX_TEXT
    assert text.startswith(f"<{long}?n=0|L0>")
    assert text.endswith(" · 4 more links too long to show here (see spec.notify.links)")
    assert text.count("<") == text.count(">") == 1


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://g.example/a b", "the URL has ' ' at character 20, which would break the link in a chat message; "
         "write it as %20"),
        ("https://g.example/?q={name}|{service}", "the URL has '|' at character 28, which would break the link in a "
         "chat message; write it as %7C"),
        ("ftp://g.example/", "a link is an http:// or https:// URL template, not 'ftp://g.example/'"),
    ],
)  # fmt: skip
def test_a_url_that_would_break_a_chat_link_is_refused(url: str, message: str) -> None:
    (problem,) = problems(f'{{name: Logs, url: "{url}"}}')
    assert problem.endswith(f"spec.notify.links[0].url: {message}")


def test_an_upper_case_scheme_is_a_url_too() -> None:
    (link,) = links(with_links('{name: Logs, url: "HTTPS://logs.example/{service}"}'), events.status())
    assert link.url == "HTTPS://logs.example/checkout"


def test_a_blank_name_and_too_many_links_are_refused_with_what_to_do() -> None:
    (blank,) = problems('{name: "   ", url: "https://l.example/"}')
    assert blank.endswith("spec.notify.links[0].name: the link's name is blank; write the text to show, e.g. Grafana")
    (many,) = problems(*['{name: L, url: "https://l.example/"}'] * 6)
    assert many.endswith("spec.notify.links: at most 5 links fit a message; this has 6")
