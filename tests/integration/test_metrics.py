"""/metrics in Prometheus text format, /readyz and /healthz."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from fhirserver.metrics import Sampler


def _samples(text: str) -> dict[tuple, float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def test_request_latency_per_interaction_and_type(http, app):
    await http.get("/default/Patient/no-such-patient")
    await http.get("/default/Observation", params={"_count": "1"})
    before = _samples((await http.get("/metrics")).text)
    await http.get("/default/Patient/no-such-patient")
    metrics = await http.get("/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    after = _samples(metrics.text)
    key = ("fhir_request_duration_seconds_count", (("interaction", "read"), ("status", "4xx"), ("type", "Patient")))
    assert after[key] == before[key] + 1
    search = ("fhir_request_duration_seconds_count",
              (("interaction", "search-type"), ("status", "2xx"), ("type", "Observation")))
    assert after[search] >= 1
    bucket = ("fhir_request_duration_seconds_bucket",
              (("interaction", "read"), ("le", "10.0"), ("status", "4xx"), ("type", "Patient")))
    assert after[bucket] == after[key]


async def test_pool_usage_per_server(http, app):
    Sampler(app.state.services).sample()
    samples = _samples((await http.get("/metrics")).text)
    assert samples[("fhir_db_pool_connections", (("server", "primary"), ("state", "max")))] == 20
    assert samples[("fhir_db_server_up", (("server", "primary"),))] == 1
    assert samples[("fhir_db_connections_served_total", (("server", "primary"),))] > 0


async def test_ready_and_healthy(http):
    ready = await http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready" and ready.json()["servers"]["primary"]["up"] is True
    assert (await http.get("/healthz")).text == "ok"
