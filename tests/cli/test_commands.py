import subprocess
import sys

from smsledger.adapters.cli import main


def test_parts_prints_count_encoding_and_characters(capsys):
    assert main(["parts", "a" * 161]) == 0
    assert capsys.readouterr().out.strip() == "2 parts, GSM-7, 161 characters"


def test_parts_of_a_unicode_text(capsys):
    assert main(["parts", "a" * 69 + "😀"]) == 0
    assert capsys.readouterr().out.strip() == "2 parts, UCS-2, 70 characters"


def test_an_empty_text_is_an_error(capsys):
    assert main(["parts", ""]) == 2
    assert "must not be empty" in capsys.readouterr().err


def test_the_installed_console_script_runs():
    done = subprocess.run([sys.executable, "-m", "smsledger.adapters.cli", "parts", "Hello"],
                          capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "1 part, GSM-7, 5 characters"


def test_the_simulator_command_serves_until_stopped():
    import socket
    import time

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "smsledger.adapters.cli", "simulator", "--port",
                                str(port), "--api-key", "k"], stdout=subprocess.PIPE, text=True)
    try:
        assert "listening on" in process.stdout.readline()
        deadline = time.monotonic() + 10
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/sms/3/logs",
                                   headers={"Authorization": "App k"})
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert answer.status_code == 200 and answer.json() == {"results": []}
        assert httpx.get(f"http://127.0.0.1:{port}/sms/3/logs").status_code == 401
    finally:
        process.terminate()
        process.wait(timeout=10)
