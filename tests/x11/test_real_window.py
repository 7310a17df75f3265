"""A new user's session in a real X11 window: Xvfb, the app on Qt's xcb platform in its own process, and xdotool
sending real mouse and keyboard events through the X server (marker ``x11``; ``python -m pytest -q -m x11 -s``).

The user builds a small CNN -> LSTM from the palette by dragging, wires it, applies the fix the Problems panel
offers, trains one short epoch on digits, exports the model to Python, saves and quits. The app runs as
``tests/x11/probe_app.py``, which is the normal app plus a read-only probe that writes where things are on screen
(so the test knows where to click) and what the window shows; every wait polls that state with a timeout. A
screenshot of the X screen is kept after each step, in ``$X11_ARTEFACTS`` or a temporary folder (printed).
"""

from __future__ import annotations

import json
import os
import py_compile
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.x11

ROOT = Path(__file__).resolve().parents[2]
PROBE = Path(__file__).resolve().parent / "probe_app.py"
SCREEN = (1600, 1000)


def free_display() -> int:
    """A display number no X server uses on this machine."""
    for n in range(90, 400):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            return n
    raise RuntimeError("no free X display number in 90..399")


@pytest.fixture
def xserver():
    """An Xvfb server of its own (started and stopped here): yields the DISPLAY value."""
    for tool in ("Xvfb", "xdotool"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (apt-get install xvfb xdotool; .ci/run does)")
    n = free_display()
    display = f":{n}"
    proc = subprocess.Popen(["Xvfb", display, "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    env = {**os.environ, "DISPLAY": display}
    deadline = time.monotonic() + 20
    while True:
        ok = subprocess.run(["xdotool", "getdisplaygeometry"], env=env, capture_output=True).returncode == 0
        if ok:
            break
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"Xvfb {display} did not start: {proc.stderr.read().decode(errors='replace')[-2000:]}")
        time.sleep(0.1)
    yield display
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


class Session:
    """The app under test, the X server it runs on and the user's hands (xdotool)."""

    def __init__(self, display: str, workdir: Path, artefacts: Path):
        self.display = display
        self.env = {**os.environ, "DISPLAY": display}
        self.workdir = workdir
        self.artefacts = artefacts
        self.state_path = workdir / "state.json"
        self.proc = None
        self.log = workdir / "app.log"
        self.shots = 0

    # ---- the app -------------------------------------------------------------------------------------------------
    def start(self, project: Path):
        env = {**self.env, "QT_QPA_PLATFORM": "xcb", "HYBRID_STUDIO_DATA_DIR": str(self.workdir / "data"),
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")])),
               "OMP_NUM_THREADS": "1"}
        env.pop("QT_QPA_PLATFORMTHEME", None)
        self.proc = subprocess.Popen([sys.executable, str(PROBE), str(project), str(self.state_path)], cwd=ROOT,
                                     env=env, stdout=self.log.open("w"), stderr=subprocess.STDOUT)

    def state(self) -> dict:
        try:
            return json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return {}

    def wait(self, what: str, predicate, timeout: float = 20.0) -> dict:
        """Poll the window's state until ``predicate(state)`` holds; fail with the last state otherwise."""
        deadline = time.monotonic() + timeout
        last = {}
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                pytest.fail(f"the app exited ({self.proc.returncode}) while waiting for {what}:\n{self.app_log()}")
            last = self.state()
            try:
                if last and predicate(last):
                    return last
            except (KeyError, IndexError, TypeError):
                pass
            time.sleep(0.1)
        self.screenshot(f"timeout-{what}")
        summary = {k: last.get(k) for k in ("status", "valid", "edges", "problems", "train", "dialogs", "focus")}
        pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}; state: {json.dumps(summary)[:3000]}\n"
                    f"{self.app_log()}")

    def app_log(self) -> str:
        try:
            return self.log.read_text()[-3000:]
        except OSError:
            return ""

    def screenshot(self, name: str) -> Path | None:
        """Save the X screen (the probe grabs the root window) as NN-name.png among the artefacts."""
        if self.proc is None or self.proc.poll() is not None:
            return None
        self.shots += 1
        target = self.artefacts / f"{self.shots:02d}-{name}.png"
        request = Path(str(self.state_path) + ".shot")
        request.write_text(str(target))
        deadline = time.monotonic() + 10
        while request.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        return target if target.exists() else None

    # ---- the user's hands ----------------------------------------------------------------------------------------
    def xdo(self, *args):
        subprocess.run(["xdotool", *map(str, args)], env=self.env, check=True, capture_output=True, timeout=20)

    def move(self, x, y):
        self.xdo("mousemove", "--sync", int(x), int(y))

    def click(self, x, y, button: int = 1):
        self.move(x, y)
        time.sleep(0.05)
        self.xdo("click", button)

    def drag(self, a, b, steps: int = 16, pause: float = 0.03):
        """Press at ``a``, move in steps (as a hand does; Qt starts a drag after a few pixels), release at ``b``."""
        self.move(*a)
        time.sleep(0.1)
        self.xdo("mousedown", 1)
        time.sleep(0.1)
        for i in range(1, steps + 1):
            t = i / steps
            self.move(a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)
            time.sleep(pause)
        time.sleep(0.15)
        self.xdo("mouseup", 1)
        time.sleep(0.1)

    def key(self, *keys):
        self.xdo("key", "--clearmodifiers", *keys)

    def type(self, text: str):
        self.xdo("type", "--delay", 20, text)


@pytest.fixture
def session(xserver, tmp_path):
    artefacts = Path(os.environ.get("X11_ARTEFACTS") or tempfile.mkdtemp(prefix="hybrid-studio-x11-"))
    artefacts.mkdir(parents=True, exist_ok=True)
    print(f"\nX11 test screenshots: {artefacts}")
    s = Session(xserver, tmp_path, artefacts)
    yield s
    if s.proc is not None and s.proc.poll() is None:
        s.screenshot("at-teardown")
        s.proc.kill()
        s.proc.wait(10)


def starting_project(path: Path) -> Path:
    """An Input for 28x28 images and a classifier head (Linear -> Output): the user builds the CNN -> LSTM between
    them. Training: one epoch of digits on the CPU."""
    from hybrid_studio.blocks import new_graph
    from hybrid_studio.graph import AddNode, Connect, Edge, Node, SetMeta
    from hybrid_studio.project import save_project
    g = new_graph("x11")
    AddNode(Node("image", "Input", {"shape": [1, 28, 28], "axes": "CHW"}, (0.0, 0.0))).apply(g)
    AddNode(Node("fc", "Linear", {"out_features": 10}, (1000.0, 0.0))).apply(g)
    AddNode(Node("out", "Output", {"task": "classification"}, (1300.0, 0.0))).apply(g)
    Connect(Edge("fc", "out")).apply(g)
    SetMeta("training", {"dataset": "digits", "epochs": 1, "batch_size": 64, "device": "cpu"}).apply(g)
    save_project(g, path)
    return path


def node_of_type(state, type_name):
    ids = [nid for nid, n in state["nodes"].items() if n["type"] == type_name]
    return ids[0] if ids else None


def test_a_user_builds_fixes_trains_exports_and_quits_in_a_real_window(session, tmp_path):
    s = session
    project = starting_project(tmp_path / "x11net.hsproj.json")
    s.start(project)
    st = s.wait("the window and its palette", lambda st: st["palette"] and st["nodes"] and st["toolbar"], 60)
    s.wait("the window to settle", lambda st: st["canvas"]["size"][0] > 300, 10)
    s.screenshot("opened")
    image = st["nodes"]["image"]["centre"]
    fc = st["nodes"]["fc"]["centre"]

    # 1. drag Conv2d and LSTM from the palette onto the canvas, below the row of blocks
    def add_from_palette(type_name, target):
        st = s.state()
        if type_name not in st["palette"]:
            s.click(*st["palette_search"])
            s.key("ctrl+a")
            s.type(type_name)
            st = s.wait(f"{type_name} in the palette", lambda st: type_name in st["palette"])
        before = {nid for nid, n in st["nodes"].items() if n["type"] == type_name}
        s.drag(st["palette"][type_name], target, steps=24, pause=0.04)
        st = s.wait(f"a {type_name} block on the canvas",
                    lambda st: {nid for nid, n in st["nodes"].items() if n["type"] == type_name} - before)
        return node_of_type(st, type_name)

    low = image[1] + 190
    conv = add_from_palette("Conv2d", (image[0] + 260, low))
    lstm = add_from_palette("LSTM", ((image[0] + fc[0]) / 2 + 200, low))
    s.screenshot("blocks-dragged-from-the-palette")

    # 2. wire image -> conv -> lstm -> fc by dragging from output ports to input ports
    for src, dst in (("image", conv), (conv, lstm), (lstm, "fc")):
        st = s.state()
        s.drag(st["nodes"][src]["outputs"]["out"], next(iter(st["nodes"][dst]["inputs"].values())), steps=20)
        s.wait(f"the wire {src} -> {dst}", lambda st, a=src, b=dst: [a, b] in st["edges"])
    s.screenshot("wired")

    # 3. the LSTM cannot read an image: the Problems panel offers a fix; click it
    st = s.wait("a fix offered for the LSTM", lambda st: any(
        p["node"] == lstm and p["fixes"] and p["fixes"][0]["shown"] for p in st["problems"]))
    assert not st["valid"]
    fix = next(p for p in st["problems"] if p["node"] == lstm and p["fixes"])["fixes"][0]
    s.click(*fix["at"])
    st = s.wait("a valid graph after the fix", lambda st: st["valid"])
    assert node_of_type(st, "ToSequence") is not None
    s.screenshot("fixed")

    # 4. the Training workspace (toolbar switch), then train one epoch of digits: the toolbar's Train button
    st = s.wait("the workspace switch", lambda st: "Training" in st["toolbar"] and "train" in st)
    s.click(*st["toolbar"]["Training"]["at"])
    st = s.wait("the Training workspace", lambda st: st["workspace"] == "train" and st["train"]["shown"])
    st = s.wait("the Train button", lambda st: st["toolbar"]["Train"]["enabled"])
    s.click(*st["toolbar"]["Train"]["at"])
    s.wait("the run to start", lambda st: st["train"]["state"] != "idle" or st["train"]["progress"] == "Finished",
           60)
    assert "Training started" in s.state()["status"] or s.state()["train"]["state"] != "idle"
    s.wait("the first steps on the curves", lambda st: st["train"]["steps"] > 0 or st["train"]["state"] == "idle",
           120)
    s.screenshot("training")
    st = s.wait("the run to finish", lambda st: st["train"]["state"] == "idle", 300)
    assert st["train"]["last_error"] is None, st["train"]
    assert st["train"]["progress"] == "Finished" and st["train"]["epochs_done"] >= 1
    s.screenshot("trained")

    # 5. export to Python from the toolbar (a menu button once the interop module adds ONNX as well)
    target = tmp_path / "exported_model.py"
    st = s.state()
    if "Export" in st["toolbar"]:
        s.click(*st["toolbar"]["Export"]["at"])
        s.wait("the export menu", lambda st: any(d["class"] == "QMenu" for d in st["dialogs"]))
        s.key("Down")
        s.key("Return")
    else:
        button = next(k for k in st["toolbar"] if k.startswith("Export to Python"))
        s.click(*st["toolbar"][button]["at"])
    st = s.wait("the export dialog", lambda st: any("file_name" in d for d in st["dialogs"]))
    dialog = next(d for d in st["dialogs"] if "file_name" in d)
    s.click(*dialog["file_name"])
    s.key("ctrl+a")
    s.type(str(target))
    s.screenshot("export-dialog")
    s.key("Return")
    s.wait("the exported file", lambda st: target.exists() and not st["dialogs"], 30)
    py_compile.compile(str(target), doraise=True)
    assert "class Model" in target.read_text()
    s.screenshot("exported")

    # 6. back in the window (a click on empty canvas: the dialog had the keyboard), save (Ctrl+S), quit (Ctrl+Q)
    st = s.state()
    (cx, cy), (w, h) = st["canvas"]["centre"], st["canvas"]["size"]
    s.click(cx - w / 2 + 30, cy - h / 2 + 30)
    s.wait("the window to have the keyboard again", lambda st: st["focus"] is not None)
    s.key("ctrl+s")
    s.wait("the project saved", lambda st: not st["modified"])
    s.screenshot("saved")
    s.key("ctrl+q")
    s.proc.wait(30)
    assert s.proc.returncode == 0, s.app_log()
    saved = json.loads(project.read_text())
    types = {n["type"] for n in saved["nodes"]}
    assert {"Conv2d", "LSTM", "ToSequence", "Linear", "Output"} <= types
    print(f"X11 test screenshots: {s.artefacts} ({s.shots} files)")
