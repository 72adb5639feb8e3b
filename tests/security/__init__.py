"""Attacks on mlchat, each tried through the entry points a user or a hostile file has.

The attacks of issue #14 (sandboxed code reaching the host), with what must
happen and where it is enforced. Each row names the test that asserts the
attack failed: a marker file not created, a canary absent from every output
and served file, a write refused, a cap hit.

| attack | expected result | enforced by | test |
|---|---|---|---|
| sandbox code overwrites ``runs/<id>/model.joblib`` with a pickle that runs a shell command | the sandbox cannot see ``runs/``; a pickle planted there from outside is refused by checksum in the chat and in ``mlchat predict``; the marker is never created | bwrap mounts only uploads (ro) and scratch; ``assistant/verified_models.py`` (sha256 recorded by the worker); ``assistant/cli/commands.py`` ``_recorded_model`` | ``test_workspace_attacks``: ``test_sandboxed_code_cannot_touch_the_models``, ``test_a_planted_pickle_is_never_unpickled``; ``test_sandbox_caps`` |
| ``model_card.md`` / ``train.py`` / a predictions file replaced by a link to the login password, ``/etc/shadow`` or the JWT secret, then "download the model" | the link is not offered or served; the canary appears nowhere | ``tools/io/safe_files.py`` (``O_NOFOLLOW`` on every component, regular files only); ``read_user_file`` serves only app folders | ``test_planted_links_to_secrets_are_neither_offered_nor_served`` |
| ``uploads/x.csv`` replaced by a link to another conversation's upload, then "show the data" | refused in one sentence; no row of the other file shown | ``ToolContext._checked``; uploads are read-only to the sandbox | ``test_an_upload_replaced_by_a_link_is_not_read`` |
| ``uploads/``, ``figures/`` or a predictions file turned into links, then attach / plot / predict | nothing written where the links point; refused | ``Workspace.add_upload`` (``O_EXCL | O_NOFOLLOW``), ``safe_files.write_atomic`` | ``test_nothing_is_written_through_a_linked_folder``; ``tests/tools/test_atomic.py`` |
| sandbox code leaves links and fake file types in scratch for the app to hand out | only regular files of allowed types, content checked, size-capped, copied to ``outputs/``; CSV formula cells neutralised | ``Workspace.copy_out``, ``run_code``'s ``_copy_out_new_files`` | ``test_only_checked_regular_files_leave_the_sandbox`` |
| four forked children allocate past the memory cap; fork bomb | OOM kill inside the sandbox, fork fails; the host and the next run fine | cgroup memory + pids of the kernel's tree (``assistant/sandbox/cgroup.py``) | ``test_sandbox_caps`` |
| fill ``/tmp``, ``/dev/shm`` and the scratch folder | ENOSPC at the cap | bwrap ``--size``; loop-mounted scratch image (``assistant/sandbox/scratch_disk.py``) | ``test_sandbox_caps`` |
| ask ``run_code`` for a longer timeout than ``MLCHAT_SANDBOX_TIMEOUT_S`` | stopped at the ceiling | ``clamp_timeout`` in every executor and ``run_code`` | ``test_sandbox_caps`` |
| a language model (or a CSV cell steering it) runs code the user never saw | asked first (Run / Skip / Allow); a skip reaches the model as "declined"; only the user's own fenced code runs unasked | ``assistant/approval.py``, consulted by the agent before ``run_code`` | ``test_code_approval``; ``tests/e2e/test_code_approval.py`` |
| a column or file name carrying instructions | never in the system prompt; JSON-quoted in a ``<data>`` block that text cannot close; code output labelled untrusted | ``assistant/untrusted.py`` | ``test_untrusted_text`` |
| a 300 KB Parquet file that decodes to GiBs; an xlsx whose range or parts explode | refused in one sentence naming the limit before decoding; Excel read in a memory-capped child | ``tools/io/input_limits.py``, ``tools/io/excel_child.py`` | ``test_upload_bombs`` |
| ``=HYPERLINK(...)`` cells copied into a predictions CSV | written as text (leading ``'``), negatives stay numbers | ``tools/io/csv_safety.py`` | ``test_csv_injection`` |
| password guessing on ``POST /login`` | 429 with ``Retry-After`` after 5 failures a minute, doubling waits; other clients unaffected | ``assistant/login_guard.py`` | ``test_login`` |
| guessing or replaying the one-click login link | 256-bit token, only its sha256 reaches the server; one use, 10 minutes; a spent or wrong token gets 401 and counts as a failed login (429 after 5) | ``assistant/login_link.py``, ``ui/login.py``, ``LoginGuard(link_path=...)`` | ``tests/e2e/test_serve.py``, ``tests/assistant/test_login_link.py`` |
| reading the databases or data folders as another local user; the cookie over plain http behind https | files 0600, folders 0700; ``Secure`` cookie on https | ``assistant/private_files.py``; ``login_guard`` | ``test_login`` |
| the server SIGKILLed during training | the worker dies with it; the run is marked interrupted and offered again once | ``assistant/processes.py``, ``RunStore`` at start | ``tests/reliability/test_crash_recovery.py``; ``tests/e2e/test_interrupted_run.py`` |
"""
