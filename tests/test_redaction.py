"""Redaction of log records (issue #16, "Secrets"): the widened default keys, secrets written
inside messages and exception messages, the opt-in value rules, and the one configuration that
logs and spans share (``Config.redaction``, ``FERROTEL_REDACT_*``)."""

from __future__ import annotations

import json
from pathlib import Path

import ferrotel
import pytest
from ferrotel import config as cfg

CARD = "4111 1111 1111 1111"  # a test card number, Luhn-valid
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"


def test_the_default_keys_cover_more_spellings_of_secrets(log_file):
    fields = {"pwd": "a", "passphrase": "b", "ssn": "c", "api_key": "d", "secret": "e", "session": "f"}
    fields |= {"userSSN": "g", "db_pwd": "h", "card_cvv": "i"}
    ferrotel.get_logger("x").info("login", **fields, classname="Song", spinner="on")
    (record,) = log_file.lines()
    assert {k: record[k] for k in fields} == dict.fromkeys(fields, "[REDACTED]")
    # Short words are matched as whole words only: `classname` holds `ssn`, `spinner` `pin`.
    assert (record["classname"], record["spinner"]) == ("Song", "on")


def test_secrets_inside_messages_and_exception_messages(log_file):
    log = ferrotel.get_logger("x")
    log.info("login failed for bob password=hunter2 from 10.0.0.1")
    log.info('headers {"Authorization": "Bearer abc.def", "accept": "json"}')
    log.info("connecting to postgres://app:s3cret@db:5432/songs")
    try:
        raise ValueError("bad request: api_key=k-123&user=bob")
    except ValueError:
        log.exception("failed")
    first, second, third, failed = log_file.lines()
    assert first["message"] == "login failed for bob password=[REDACTED] from 10.0.0.1"
    assert second["message"] == 'headers {"Authorization": "[REDACTED]", "accept": "json"}'
    assert third["message"] == "connecting to postgres://app:[REDACTED]@db:5432/songs"
    assert failed["error.message"] == "bad request: api_key=[REDACTED]&user=bob"
    assert "k-123" not in failed["error.stack_trace"]
    for secret in ("hunter2", "abc.def", "s3cret", "k-123"):
        assert secret not in log_file.text()


def test_value_rules_are_opt_in(tmp_path: Path):
    def logged(**redaction) -> dict:
        path = tmp_path / f"{len(redaction)}.log"
        ferrotel.logs.configure(file=ferrotel.logs.FileSink(path), **redaction)
        try:
            ferrotel.get_logger("x").info(
                f"paid with {CARD} by jane.doe@example.com", header=f"bearer {JWT}", other=JWT
            )
            assert ferrotel.flush(10)
            (record,) = [json.loads(line) for line in path.read_text().splitlines()]
        finally:
            ferrotel.logs.configure(console=False)
        return record

    plain = logged()
    assert plain["message"] == f"paid with {CARD} by jane.doe@example.com"
    assert plain["other"] == JWT
    masked = logged(redact_values=["cards", "emails", "bearer_tokens"])
    assert masked["message"] == "paid with [REDACTED] by [REDACTED]"
    assert masked["header"] == "bearer [REDACTED]"
    assert masked["other"] == "[REDACTED]"


def test_unknown_value_rules_are_configuration_errors():
    with pytest.raises(ValueError, match="phones"):
        ferrotel.logs.configure(console=False, redact_values=["phones"])
    with pytest.raises(ValueError, match="phones"):
        ferrotel.tracing.configure(exporters=[], redact_values=["phones"])
    with pytest.raises(TypeError, match="cards"):
        ferrotel.logs.configure(console=False, redact_values="cards")
    with pytest.raises(ValueError, match="redaction.values"):
        cfg.build({"redaction": {"values": ["phones"]}})


def test_one_configuration_for_logs_and_spans(tmp_path: Path, reset_tracing):
    path = tmp_path / "app.log"
    spans = tmp_path / "spans.jsonl"
    redaction = cfg.RedactionConfig(keys=("song_id",), values=("cards",))
    config = cfg.Config(
        service_name="redaction",
        logging=cfg.LoggingConfig(outputs=cfg.LogOutputs(console=False, file=cfg.FileOutput(str(path)))),
        tracing=cfg.TracingConfig(exporters=cfg.TracingExporters(file=str(spans))),
        redaction=redaction,
    )
    try:
        ferrotel.configure(config)
        tracer = ferrotel.get_tracer("t")
        with tracer.span("pay", attributes={"song_id": 7, "note": f"card {CARD}"}):
            ferrotel.get_logger("x").info(f"card {CARD}", song_id=7)
        assert ferrotel.flush(10)
        (record,) = [json.loads(line) for line in path.read_text().splitlines()]
        (span,) = [json.loads(line) for line in spans.read_text().splitlines()]
    finally:
        ferrotel.logs.configure(console=False)
    assert (record["message"], record["song_id"]) == ("card [REDACTED]", "[REDACTED]")
    assert span["attributes"] == {"song_id": "[REDACTED]", "note": "card [REDACTED]"}


def test_redaction_settings_from_toml_and_environment(tmp_path: Path):
    toml = tmp_path / "ferrotel.toml"
    toml.write_text('[redaction]\nkeys = ["song_id"]\npatterns = ["SECRET-\\\\d+", ["x(\\\\d)", "y$1"]]\n')
    environ = {"FERROTEL_REDACT_VALUES": "cards, emails", "FERROTEL_REDACT_DEFAULTS": "false"}
    config = cfg.load(toml, environ)
    assert config.redaction == cfg.RedactionConfig(
        keys=("song_id",),
        defaults=False,
        values=("cards", "emails"),
        patterns=((r"SECRET-\d+", "[REDACTED]"), (r"x(\d)", "y$1")),
    )
