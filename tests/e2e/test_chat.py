"""The chat in a real browser: log in, attach, reply, history, restart, file safety.

Runs against the placeholder app; when the assistant lands, the reply checks
become the leaderboard and metrics checks of issue 8.
"""

from __future__ import annotations

import http.client
import io
import json
import re
import sqlite3
import uuid
from pathlib import Path

import joblib
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import ROOT, WELCOME, ChainlitServer, log_in, screenshot

pytestmark = pytest.mark.e2e

CSV = b"customer_id,tenure,monthly,churn\n" + b"".join(
    f"{i},{i % 72},{20 + i % 90}.5,{i % 3 == 0}\n".encode() for i in range(400)
)


def _send(page: Page, text: str, attachment: Path | dict | None = None) -> None:
    """Attach a file (optional), type ``text`` and send it."""
    if attachment is not None:
        page.set_input_files("#upload-button-input", attachment)
        name = attachment.name if isinstance(attachment, Path) else attachment["name"]
        expect(page.locator("#attachments")).to_contain_text(name.split("/")[-1])
    page.fill("#chat-input", text)
    expect(page.locator("#chat-submit")).to_be_enabled()
    page.click("#chat-submit")


def _last_reply(page: Page) -> Locator:
    return page.locator("[data-step-type='assistant_message']").last


def _open_step(step: Locator, text: str) -> None:
    """Expand a tool step until it shows ``text``.

    Chainlit re-renders a step when its last update arrives, which can undo (or come before)
    a click made a moment earlier; so the header is clicked again while the text is missing.
    """
    header = step.get_by_role("button").first
    for _ in range(4):
        if text in step.inner_text():
            return
        header.click()
        try:
            expect(step).to_contain_text(text, timeout=3_000)
            return
        except AssertionError:
            continue
    expect(step).to_contain_text(text)


def _reply_with(page: Page, text: str) -> Locator:
    """The latest assistant message containing ``text`` (a reply's text comes first, its
    tables, figures and files in messages after it)."""
    return page.locator("[data-step-type='assistant_message']").filter(has_text=text).last


def _thread_rows(server: ChainlitServer) -> list[tuple[str, str]]:
    with sqlite3.connect(server.data_dir / "chainlit.db") as conn:
        return conn.execute('SELECT "id", "name" FROM threads').fetchall()


def _files_named(root: Path, name: str) -> list[Path]:
    return sorted(p for p in root.rglob(name) if p.is_file())


def _churn_csv(n_rows: int = 300, seed: int = 0) -> bytes:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(n_rows)],
            "tenure": rng.integers(1, 72, n_rows),
            "contract": rng.choice(["month", "year"], n_rows),
        }
    )
    frame["churn"] = np.where((frame["tenure"] < 20) ^ (rng.random(n_rows) < 0.1), "yes", "no")
    return frame.to_csv(index=False).encode()


def _latest_run(server: ChainlitServer) -> dict[str, object]:
    with sqlite3.connect(server.data_dir / "mlchat.db") as conn:
        conn.row_factory = sqlite3.Row
        row = conn.execute("SELECT * FROM runs ORDER BY created_at DESC LIMIT 1").fetchone()
    return {
        k: (json.loads(row[k]) if k in ("leaderboard", "metrics", "artifacts", "plan") else row[k])
        for k in row.keys()  # noqa: SIM118 (a Row iterates over values)
    }


def _cookie(page: Page) -> str:
    return "; ".join(f"{c['name']}={c['value']}" for c in page.context.cookies())


def test_train_shows_the_stored_numbers_and_offers_a_loadable_model(
    server: ChainlitServer, page: Page, tmp_path: Path
) -> None:
    log_in(page, server)
    expect(page.locator(".step").first).to_contain_text("built-in offline assistant")
    expect(page.locator(".step").first).to_contain_text("local")
    screenshot(page, "train", "1-welcome")

    upload = tmp_path / "churn.csv"
    upload.write_bytes(_churn_csv())
    _send(page, "train a model on this file to predict churn", upload)
    reply = _reply_with(page, "Best:")
    expect(reply).to_be_visible(timeout=180_000)
    screenshot(page, "train", "2-trained")

    run = _latest_run(server)
    assert run["status"] == "finished"
    best = run["leaderboard"][0]  # type: ignore[index]
    spread = "" if best["std"] is None else f" ± {best['std']:.2g}"
    expect(reply).to_contain_text(f"{best['score']:.4g}{spread}")
    expect(page.locator(".dataframe").first).to_be_visible()
    model_url = _stored_url(server, page, "model.joblib")
    status, body = _get(server, model_url, _cookie(page))
    assert status == 200
    model = joblib.load(io.BytesIO(body))
    import pandas as pd

    new_rows = pd.read_csv(io.BytesIO(_churn_csv(5, seed=2))).drop(columns="churn")
    assert model.predict_proba(new_rows).shape == (5, 2)


def test_follow_ups_explain_a_feature_and_predict_on_a_new_file(
    server: ChainlitServer, page: Page, tmp_path: Path
) -> None:
    log_in(page, server)
    upload = tmp_path / "churn.csv"
    upload.write_bytes(_churn_csv())
    _send(page, "train a model on this file to predict churn", upload)
    expect(_reply_with(page, "Best:")).to_be_visible(timeout=180_000)

    _send(page, "why is tenure important?")
    expect(_reply_with(page, "tenure is ranked")).to_be_visible(timeout=60_000)
    expect(page.locator(".js-plotly-plot").last).to_be_visible(timeout=30_000)
    screenshot(page, "follow-ups", "1-why")

    new_file = tmp_path / "new_customers.csv"
    new_file.write_bytes(_churn_csv(37, seed=5))
    _send(page, "predict on this file", new_file)
    expect(_reply_with(page, "Wrote 37 predictions")).to_be_visible(timeout=60_000)
    screenshot(page, "follow-ups", "2-predict")
    url = _stored_url(server, page, "new_customers-predictions.csv")
    status, body = _get(server, url, _cookie(page))
    assert status == 200
    assert len(body.decode().strip().splitlines()) == 37 + 1


def test_stop_during_training_says_what_was_kept(
    server: ChainlitServer, page: Page, tmp_path: Path
) -> None:
    log_in(page, server)
    upload = tmp_path / "churn.csv"
    upload.write_bytes(_churn_csv(2_000))
    _send(page, "train a model on this file to predict churn with a 120 second budget", upload)
    expect(page.locator(".dataframe").first).to_be_visible(timeout=120_000)
    page.click("#stop-button")
    expect(page.get_by_text("finished candidate(s) are kept")).to_be_visible(timeout=10_000)
    # The live message says where training stopped instead of ticking on.
    expect(_reply_with(page, "Training stopped after")).to_contain_text("models done")
    screenshot(page, "stop", "stopped")
    for _ in range(50):
        if _latest_run(server)["status"] != "running":
            break
        page.wait_for_timeout(100)
    run = _latest_run(server)
    assert run["status"] == "stopped"
    assert len(run["leaderboard"]) >= 1  # type: ignore[arg-type]


def test_a_malformed_file_gets_one_clear_message_and_the_next_request_works(
    server: ChainlitServer, page: Page, tmp_path: Path
) -> None:
    log_in(page, server)
    broken = tmp_path / "broken.csv"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00binary")
    _send(page, "train a model on this file to predict churn", broken)
    reply = _last_reply(page)
    expect(reply).to_contain_text("binary", timeout=60_000)
    expect(page.get_by_text("Traceback")).to_have_count(0)
    screenshot(page, "malformed", "1-message")
    good = tmp_path / "churn.csv"
    good.write_bytes(_churn_csv())
    _send(page, "train a model on this file to predict churn", good)
    expect(_reply_with(page, "Best:")).to_be_visible(timeout=180_000)


def test_parquet_excel_json_and_tsv_are_accepted_together(
    server: ChainlitServer, page: Page, tmp_path: Path
) -> None:
    import pandas as pd

    frame = pd.DataFrame({"tenure": range(50), "churn": [i % 2 for i in range(50)]})
    tag = uuid.uuid4().hex[:6]
    files = [tmp_path / f"t{tag}.{ext}" for ext in ("parquet", "xlsx", "json", "tsv")]
    frame.to_parquet(files[0])
    frame.to_excel(files[1], index=False)
    frame.to_json(files[2], orient="records")
    frame.to_csv(files[3], sep="\t", index=False)
    log_in(page, server)
    page.set_input_files("#upload-button-input", files)
    for file in files:
        expect(page.locator("#attachments")).to_contain_text(file.name)
    page.fill("#chat-input", "four formats")
    page.click("#chat-submit")
    expect(_reply_with(page, "50 rows x 2 columns")).to_be_visible(timeout=60_000)
    screenshot(page, "formats", "accepted")
    for file in files:
        (copy,) = _files_named(server.data_dir / "workspaces", file.name)
        assert copy.read_bytes() == file.read_bytes()


def test_thumbs_up_on_a_reply_is_stored_as_feedback(server: ChainlitServer, page: Page) -> None:
    marker = f"rate me {uuid.uuid4().hex[:8]}"
    log_in(page, server)
    _send(page, marker)
    expect(_last_reply(page)).to_contain_text("I'm running offline")
    expect(page.locator("#stop-button")).to_have_count(0)  # the turn has ended
    page.locator(".positive-feedback-off").last.click()
    page.locator("#submit-feedback").click()  # the optional-comment dialog
    expect(page.locator(".positive-feedback-on")).to_have_count(1)
    # Chainlit rates a whole turn: the feedback is for the run step holding the reply.
    query = (
        'SELECT f."value" FROM feedbacks f JOIN steps reply ON reply."parentId" = f."forId" '
        'WHERE reply."output" LIKE ?'
    )
    for _ in range(150):
        with sqlite3.connect(server.data_dir / "chainlit.db") as conn:
            rows = conn.execute(query, ("I'm running offline%",)).fetchall()
        if rows:
            break
        page.wait_for_timeout(100)
    assert rows == [(1,)]


def test_a_wrong_password_is_refused(server: ChainlitServer, page: Page) -> None:
    page.goto(server.url)
    page.fill("#email", "mlchat")
    page.fill("#password", "not-the-password")
    page.click("button[type=submit]")
    expect(page.get_by_text("Unable to sign in")).to_be_visible()
    expect(page.locator("#chat-input")).to_have_count(0)
    screenshot(page, "login", "refused")


def test_a_starter_button_starts_a_saved_conversation(server: ChainlitServer, page: Page) -> None:
    log_in(page, server)
    page.get_by_role("button", name="Train on a sample dataset").click()
    starter = "Train a model on the sample churn dataset to predict churn."
    expect(page.locator("[data-step-type='user_message']").last).to_contain_text(starter)
    expect(_reply_with(page, "Best:")).to_be_visible(timeout=180_000)
    screenshot(page, "starter", "clicked")
    # the sample has a real signal: a sane model is well above chance
    assert _latest_run(server)["metrics"]["cv_metrics"]["roc_auc"] > 0.65  # type: ignore[index]
    sidebar = page.locator("#thread-history").get_by_text("Train on a sample dataset")
    expect(sidebar.first).to_be_visible()


def test_reload_and_reopen_the_thread_shows_its_history(server: ChainlitServer, page: Page) -> None:
    marker = f"remember {uuid.uuid4().hex[:8]}"
    log_in(page, server)
    _send(page, marker)
    expect(_last_reply(page)).to_contain_text("I'm running offline")

    page.reload()
    expect(page.locator("#thread-history").get_by_text(marker)).to_be_visible()
    page.click("#new-chat-button")
    expect(page.locator("[data-step-type='user_message']")).to_have_count(0)
    thread_link = page.locator("#thread-history").get_by_text(marker)
    thread_link.click()
    expect(page.locator("[data-step-type='user_message']").last).to_contain_text(marker)
    expect(_last_reply(page)).to_contain_text("I'm running offline")
    screenshot(page, "history", "reopened")


def test_an_attachment_named_to_escape_writes_nothing_outside_the_workspace(
    server: ChainlitServer, page: Page
) -> None:
    name = f"escape-{uuid.uuid4().hex[:6]}.csv"
    log_in(page, server)
    evil = {"name": f"../../../{name}", "mimeType": "text/csv", "buffer": CSV}
    _send(page, "here is a file", evil)
    expect(_reply_with(page, name)).to_be_visible(timeout=60_000)

    data = server.data_dir
    everywhere = _files_named(data.parent, name) + _files_named(ROOT, name)
    allowed = (data / "workspaces", data / "files", data / "tmp" / "uploads")
    assert everywhere, "the upload should exist inside the data folder"
    assert [p for p in everywhere if not any(p.is_relative_to(a) for a in allowed)] == []
    copies = _files_named(data / "workspaces", name)
    assert len(copies) == 1 and copies[0].parent.name == "uploads"


def _stored_url(server: ChainlitServer, page: Page, name: str, *, timeout_s: float = 15) -> str:
    """The read URL of a persisted element; Chainlit writes it in a background task."""
    for _ in range(int(timeout_s * 10)):
        with sqlite3.connect(server.data_dir / "chainlit.db") as conn:
            row = conn.execute('SELECT "url" FROM elements WHERE "name" = ?', (name,)).fetchone()
        if row is not None:
            return row[0]
        page.wait_for_timeout(100)
    raise AssertionError(f"no element row for {name} after {timeout_s} s")


def _get(server: ChainlitServer, raw_path: str, cookie: str | None) -> tuple[int, bytes]:
    """GET ``raw_path`` exactly as written (no dot-segment normalisation)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", raw_path, headers={"Cookie": cookie} if cookie else {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_file_urls_need_the_owner_and_cannot_leave_the_data_folder(
    server: ChainlitServer, page: Page, tmp_path: Path
) -> None:
    log_in(page, server)
    upload = tmp_path / f"own-{uuid.uuid4().hex[:6]}.csv"
    upload.write_bytes(CSV)
    _send(page, "keep this file", upload)
    # Read it as soon as its row exists, which is before the thread's own row may be written.
    url = _stored_url(server, page, upload.name)
    cookie = "; ".join(f"{c['name']}={c['value']}" for c in page.context.cookies())
    assert _get(server, url, cookie) == (200, CSV)
    expect(_reply_with(page, upload.name)).to_be_visible(timeout=60_000)

    assert _get(server, url, cookie) == (200, CSV)
    assert _get(server, url, None)[0] == 401
    password = (server.data_dir / "auth" / "chainlit-secret").read_text().strip().encode()
    owner = url.split("/")[3]
    for attack in (
        f"/mlchat/files/{owner}/../../auth/chainlit-secret",
        f"/mlchat/files/{owner}/%2e%2e/%2e%2e/auth/chainlit-secret",
        f"/mlchat/files/{owner}/..%2f..%2fauth%2fchainlit-secret",
        "/mlchat/files//etc/passwd",
        "/mlchat/files/%2fetc%2fpasswd",
        f"/mlchat/files/{uuid.uuid4()}/{url.split('/', 4)[4]}",
    ):
        status, body = _get(server, attack, cookie)
        assert status in (400, 404), attack
        assert password not in body and b"root:" not in body, attack


def test_after_a_restart_the_thread_has_its_figures_and_its_model_predicts(
    server: ChainlitServer, page: Page, tmp_path: Path
) -> None:
    marker = f"train a model on this file to predict churn {uuid.uuid4().hex[:6]}"
    log_in(page, server)
    upload = tmp_path / "churn.csv"
    upload.write_bytes(_churn_csv())
    _send(page, marker, upload)
    expect(_reply_with(page, "Best:")).to_be_visible(timeout=180_000)

    server.restart()
    # The login cookie outlives the restart: the signing secret is kept in the data folder.
    page.goto(server.url)
    expect(page.locator("[data-step-type='assistant_message']").first).to_contain_text(WELCOME)
    thread_link = page.locator("#thread-history").get_by_text(marker)
    expect(thread_link).to_be_visible()
    thread_link.click()
    expect(page.locator("[data-step-type='user_message']").first).to_contain_text(marker)
    expect(_reply_with(page, "Best:")).to_be_visible()
    expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=30_000)
    status, body = _get(server, _stored_url(server, page, "Confusion matrix"), _cookie(page))
    assert status == 200 and json.loads(body)["data"], body[:200]
    expect(page.locator(".js-plotly-plot .heatmaplayer").first).to_be_attached(timeout=30_000)
    assert re.search(r"/thread/[0-9a-f-]{36}$", page.url)
    screenshot(page, "restart", "1-reopened")

    new_file = tmp_path / "later.csv"
    new_file.write_bytes(_churn_csv(12, seed=9))
    _send(page, "predict on this file", new_file)
    expect(_reply_with(page, "Wrote 12 predictions")).to_be_visible(timeout=60_000)
    screenshot(page, "restart", "2-predicted")


def test_the_usage_view_shows_this_conversations_calls_and_the_sandbox(
    server: ChainlitServer, page: Page
) -> None:
    log_in(page, server)
    _send(page, "hello")
    expect(_last_reply(page)).to_contain_text("I'm running offline")
    page.get_by_role("button", name="Usage and cost").click()
    usage = _last_reply(page)
    expect(usage).to_contain_text("Usage of this conversation (offline, rules)")
    expect(usage).to_contain_text("per provider/model")
    expect(usage).to_contain_text("no network")
    screenshot(page, "usage", "view")


_ORDER_JS = """() => {
  const messages = [...document.querySelectorAll("[data-step-type='assistant_message']")];
  const first = (test) => messages.findIndex(test);
  return {
    summary: first((m) => m.innerText.includes("Best:")),
    leaderboard: first((m) => m.querySelector(".dataframe") && m.innerText.includes("fit time")),
    figures: first((m) => m.querySelector(".js-plotly-plot") !== null),
    files: first((m) => m.innerText.includes("Fitted pipeline (model.joblib)")),
  };
}"""


def _reading_order(page: Page) -> dict[str, int]:
    expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Fitted pipeline (model.joblib)")).to_be_visible()
    return page.evaluate(_ORDER_JS)


def test_a_training_reply_reads_in_order_and_speaks_the_files_labels(
    server: ChainlitServer, page: Page, tmp_path: Path
) -> None:
    log_in(page, server)
    upload = tmp_path / "churn.csv"
    upload.write_bytes(_churn_csv())
    _send(page, "train a model on this file to predict churn", upload)
    live = page.locator("[data-step-type='assistant_message']", has_text="Training")
    expect(live.last).to_contain_text(re.compile(r"of 0:05 · \d+ (of \d+ )?models done"))
    summary = _reply_with(page, "Best:")
    expect(summary).to_be_visible(timeout=180_000)

    # The summary opens the reply, says what the score means, and holds the final leaderboard.
    expect(summary).to_contain_text("What that means: it ranks a")
    expect(summary).to_contain_text("Things to know")  # the reply's own words, under it
    expect(summary.locator(".dataframe")).to_contain_text("fit time")
    order = _reading_order(page)
    assert order["summary"] == order["leaderboard"] < order["figures"] < order["files"], order
    screenshot(page, "reading-order", "1-trained")

    # The file's words: yes/no, never the True/False the engine could have made of them.
    figures = {}
    for name in ("Confusion matrix", "ROC curve"):
        with sqlite3.connect(server.data_dir / "chainlit.db") as conn:
            row = conn.execute(
                'SELECT "url", "name" FROM elements WHERE "name" LIKE ? ORDER BY rowid DESC',
                (f"{name}%",),
            ).fetchone()
        assert row is not None, name
        status, body = _get(server, row[0], _cookie(page))
        assert status == 200
        figures[row[1]] = body.decode()
    matrix_name = next(n for n in figures if n.startswith("Confusion matrix"))
    matrix = json.loads(figures[matrix_name])["data"][0]
    assert sorted(matrix["x"]) == ["no", "yes"] and sorted(matrix["y"]) == ["no", "yes"]
    assert any("positive class “yes”" in n for n in figures), list(figures)
    assert not any(re.search(r"\b(True|False)\b", body) for body in figures.values())

    page.reload()
    expect(_reply_with(page, "Best:")).to_contain_text("Things to know", timeout=30_000)
    assert _reading_order(page) == order
    screenshot(page, "reading-order", "2-reloaded")

    _send(page, "why is tenure important?")
    expect(_reply_with(page, "tenure is ranked")).to_be_visible(timeout=60_000)
    expect(_reply_with(page, "tenure is ranked")).to_contain_text("share of “yes”")
    expect(page.get_by_text("share of “True”")).to_have_count(0)


def test_take_the_work_home_a_served_model_and_a_notebook_that_runs(
    server: ChainlitServer, page: Page, tmp_path: Path
) -> None:
    log_in(page, server)
    upload = tmp_path / "churn.csv"
    upload.write_bytes(_churn_csv())
    _send(page, "train a model on this file to predict churn", upload)
    expect(_reply_with(page, "Best:")).to_be_visible(timeout=180_000)

    _send(page, "deploy the model")
    reply = _reply_with(page, "answers at http://127.0.0.1:")
    expect(reply).to_be_visible(timeout=90_000)
    expect(reply).to_contain_text("curl -s http://127.0.0.1:")
    screenshot(page, "deploy", "1-served")
    url = re.search(r"answers at (http://127\.0\.0\.1:\d+)", reply.inner_text()).group(1)  # type: ignore[union-attr]

    health = page.context.new_page()
    health.goto(f"{url}/health")
    expect(health.locator("body")).to_contain_text('"target":"churn"')
    health.close()
    port = int(url.rsplit(":", 1)[1])
    rows = [{"customer_id": "C1", "tenure": 5, "contract": "month"}]
    for body, expected in (({"rows": rows}, 200), ({"rows": [{"tenure": "soon"}]}, 422)):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", "/predict", json.dumps(body), {"Content-Type": "application/json"})
        response = conn.getresponse()
        answer = json.loads(response.read())
        conn.close()
        assert response.status == expected, answer
    assert answer["message"].startswith("Row 0, column “tenure”: Input should be a valid number")

    _send(page, "export this as a notebook")
    expect(_reply_with(page, "Wrote conversation.ipynb")).to_be_visible(timeout=60_000)
    status, body = _get(server, _stored_url(server, page, "conversation.ipynb"), _cookie(page))
    assert status == 200
    nbclient = pytest.importorskip("nbclient")
    import nbformat

    notebook = nbformat.reads(body.decode(), as_version=4)
    work = tmp_path / "kernel"
    work.mkdir()
    nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(work)}}
    ).execute()
    printed = "".join(
        o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs
    )
    assert "Best:" in printed
    assert any("deploy_model" in c.source for c in notebook.cells if c.cell_type == "markdown")


def test_offline_a_failed_tools_step_reads_for_a_person_and_a_choice_button_trains(
    server: ChainlitServer, page: Page, tmp_path: Path
) -> None:
    """Issue 18: the collapsible step of a failed call shows the person's wording, not the
    model's; an unclear target is asked with buttons, and clicking one trains on that column."""
    log_in(page, server)
    upload = tmp_path / "customers.csv"
    upload.write_bytes(_churn_csv(200))
    _send(page, "deploy the model", upload)
    expect(_reply_with(page, "There is no trained model yet: train one first.")).to_be_visible(
        timeout=60_000
    )
    step = page.locator("[data-step-type='tool']").filter(has_text="Starting the model service")
    _open_step(step, "There is no trained model yet: train one first.")
    expect(step).not_to_contain_text("train_models")
    screenshot(page, "offline-choice", "1-error-step")

    _send(page, "train a model")
    question = _reply_with(page, "Which column should I predict?")
    expect(question).to_be_visible(timeout=60_000)
    button = question.get_by_role("button", name="predict contract")
    expect(button).to_be_visible()
    assert question.get_by_role("button", name="predict customer_id").count() == 0
    asking = page.locator("[data-step-type='tool']").filter(has_text="Asking you").last
    _open_step(asking, "Asked you: Which column should I predict?")
    screenshot(page, "offline-choice", "2-buttons")
    button.click()
    expect(page.locator("[data-step-type='user_message']").last).to_contain_text("predict contract")
    expect(_reply_with(page, "Best:")).to_be_visible(timeout=180_000)
    screenshot(page, "offline-choice", "3-trained")
    run = _latest_run(server)
    assert (run["status"], run["plan"]["target"]) == ("finished", "contract")  # type: ignore[index]
