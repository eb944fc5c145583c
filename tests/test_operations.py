"""Operations: Prometheus metrics from every worker, and JSON logs with request ids."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.support import Api, Server, unique_code


def _sample(metrics: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text format (0 when absent)."""
    for line in metrics.splitlines():
        if not line.startswith(name):
            continue
        match = re.fullmatch(r"([a-z_]+)(\{(.*)\})? ([0-9.e+-]+)", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(3) or ""))
        if all(found.get(key) == value for key, value in labels.items()):
            return float(match.group(4))
    return 0.0


def test_metrics_add_up_every_worker(fresh_db: str, tmp_path: Path) -> None:
    server = Server(
        fresh_db, tmp_path / "data", workers=2, env={"VOUCHERS_LOG_FORMAT": "json"}
    ).start()
    try:
        admin = Api(server.url)
        code = admin.create_voucher(code=unique_code("MET"), max_redemptions=30)["code"]
        public = Api(server.url, key=None)
        for _ in range(30):
            # A fresh connection each time, so both workers take requests.
            public.session.close()
            assert public.redeem(code).status_code == 201
        for _ in range(4):
            public.session.close()
            assert public.redeem(code).status_code == 409
        metrics = public.get("/metrics").text
        route = "/v1/vouchers/{code}/redemptions"
        assert _sample(metrics, "vouchers_redemptions_total") == 30
        assert _sample(metrics, "vouchers_rejections_total", code="voucher_exhausted") == 4
        assert (
            _sample(
                metrics, "vouchers_http_requests_total", method="POST", route=route, status="201"
            )
            == 30
        )
        assert _sample(metrics, "vouchers_http_request_duration_seconds_count", route=route) == 34
        assert _sample(metrics, "vouchers_group_commit_size_sum") == 34
        assert "vouchers_db_pool_connections_in_use" in metrics
        assert code not in metrics, "metrics name routes, never codes"

        lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
        access = [line for line in lines if line["logger"] == "vouchers.access"]
        assert len(access) >= 34
        assert all(line["request_id"].startswith("req_") for line in access)
        assert {line["level"] for line in access} == {"info"}
    finally:
        server.stop()
