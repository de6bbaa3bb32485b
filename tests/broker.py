"""A real Mosquitto on a free loopback port, started and stopped by the tests."""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Mosquitto:
    """One Mosquitto process; `restart()` kills it hard and starts it again on the same port."""

    def __init__(self, port: int | None = None, *, users: dict[str, str] | None = None, tls: bool = False) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not os.path.exists(binary):
            raise RuntimeError("mosquitto is not installed: run 'sudo apt-get install mosquitto'")
        self.binary = binary
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self._dir = Path(tempfile.mkdtemp(prefix="hm-mosquitto-"))
        self.conf = self._dir / "mosquitto.conf"
        auth = "allow_anonymous true\n"
        if users:
            passwd = self._dir / "passwd"
            passwd.write_text("")
            for user, password in users.items():
                subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, password], check=True)
            auth = f"allow_anonymous false\npassword_file {passwd}\n"
        tls_lines = ""
        self.ca_cert: Path | None = None
        if tls:
            self.ca_cert = self._make_certificates()
            d = self._dir
            tls_lines = f"cafile {d / 'ca.crt'}\ncertfile {d / 'server.crt'}\nkeyfile {d / 'server.key'}\n"
        # Started as root, Mosquitto drops to the 'mosquitto' user, who could not read our temp files.
        self.conf.write_text(
            f"user {getpass.getuser()}\n"
            f"listener {self.port} 127.0.0.1\n" + tls_lines + auth + "persistence false\n"
            "set_tcp_nodelay true\n"
            "max_queued_messages 100000\n"
            "log_dest none\n"
        )
        self._process: subprocess.Popen[bytes] | None = None

    def _make_certificates(self) -> Path:
        """A throw-away CA and a server certificate for 127.0.0.1 / localhost, made with openssl."""
        d = self._dir

        def openssl(*args: str) -> None:
            subprocess.run(["openssl", *args], check=True, capture_output=True)

        openssl(
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=Test CA",
            "-keyout",
            str(d / "ca.key"),
            "-out",
            str(d / "ca.crt"),
        )
        openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            str(d / "server.key"),
            "-out",
            str(d / "server.csr"),
        )
        (d / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        openssl(
            "x509",
            "-req",
            "-in",
            str(d / "server.csr"),
            "-CA",
            str(d / "ca.crt"),
            "-CAkey",
            str(d / "ca.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            str(d / "san.ext"),
            "-out",
            str(d / "server.crt"),
        )
        return d / "ca.crt"

    def start(self) -> None:
        """Start and wait until the port accepts connections."""
        self._process = subprocess.Popen(
            [self.binary, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return
            except OSError:
                if self._process.poll() is not None:
                    raise RuntimeError(f"mosquitto exited with {self._process.returncode}") from None
                time.sleep(0.02)
        raise RuntimeError("mosquitto did not start within 10 s")

    def kill(self) -> None:
        """Kill the broker (SIGKILL): connections drop, retained messages are lost (no persistence)."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def restart(self) -> None:
        """Kill and start again on the same port."""
        self.kill()
        self.start()

    def stop(self) -> None:
        """Terminate the broker and remove its files."""
        self.kill()
        shutil.rmtree(self._dir, ignore_errors=True)
