"""Another user of the same host (uid 65534, "nobody") can neither reach the rank server nor plant a folder
or a link that the rank server or the default storePath would use; the servers' files stay bounded."""
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pytest

from horovod_spark_ml import InputError, MLPClassifier
from horovod_spark_ml.private_folder import private_folder
from horovod_spark_ml.training.executor.rank_folder import remove_stale, same_user, server_folder

OTHER = 65534
pytestmark = pytest.mark.skipif(os.getuid() != 0, reason="needs root, to act as a second user")


def _as_other_user(action):
    """Run ``action()`` in a child process as uid/gid 65534; its exit code (1 and the error printed if it raised)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setgroups([])
            os.setgid(OTHER)
            os.setuid(OTHER)
            code = action() or 0
        except BaseException as e:  # noqa: BLE001 -- reported by the exit code
            os.write(2, f"as uid {OTHER}: {e!r}\n".encode())
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@pytest.fixture
def shared_tmp():
    """A folder like /tmp: every user may write in it, the sticky bit keeps them from others' entries."""
    folder = tempfile.mkdtemp(dir="/tmp", prefix="hsm-shared-")
    os.chmod(folder, 0o1777)
    yield folder
    shutil.rmtree(folder)


def test_a_folder_or_link_another_user_planted_is_refused_and_nothing_is_written_through_it(shared_tmp):
    def plant():
        os.mkdir(f"{shared_tmp}/theirs", 0o777)
        os.chmod(f"{shared_tmp}/theirs", 0o777)
        os.symlink(f"{shared_tmp}/theirs", f"{shared_tmp}/linked")
        os.mkdir(f"{shared_tmp}/made", 0o777)
    assert _as_other_user(plant) == 0
    with pytest.raises(PermissionError, match=f"{shared_tmp}/linked is a symbolic link"):
        private_folder(f"{shared_tmp}/linked")
    with pytest.raises(PermissionError, match=f"{shared_tmp}/made belongs to uid {OTHER}, not to this user"):
        private_folder(f"{shared_tmp}/made")
    assert os.listdir(f"{shared_tmp}/theirs") == []
    mine = private_folder(f"{shared_tmp}/mine")
    assert os.stat(mine).st_mode & 0o777 == 0o700
    os.chmod(mine, 0o755)
    with pytest.raises(PermissionError, match="may be used by other users \\(mode 755\\)"):
        private_folder(mine)


def test_the_default_store_is_this_users_alone_and_a_planted_one_is_refused_before_staging(blobs, shared_tmp):
    planted = f"{shared_tmp}/horovod_spark_ml-0"
    assert _as_other_user(lambda: os.symlink(f"{shared_tmp}", planted)) == 0
    estimator = MLPClassifier(hiddenLayers=[4], epochs=1, numProc=1, verbose=0)
    estimator._setDefault(storePath=planted)  # the default storePath, as if the temp folder were shared_tmp
    with pytest.raises(InputError, match=f"the default storePath {planted} is a symbolic link .*set storePath"):
        estimator.fit(blobs)
    assert os.listdir(shared_tmp) == ["horovod_spark_ml-0"]

    default = MLPClassifier(hiddenLayers=[4], epochs=1, numProc=1, verbose=0)
    assert default.getStorePath() == f"{tempfile.gettempdir()}/horovod_spark_ml-{os.getuid()}"
    default.fit(blobs)
    assert os.stat(default.getStorePath()).st_mode & 0o777 == 0o700


def test_another_user_cannot_reach_a_rank_server_and_a_fit_leaves_no_autograph_files(blobs, store):
    autograph = set(glob.glob(f"{tempfile.gettempdir()}/__autograph_generated_file*"))
    MLPClassifier(hiddenLayers=[4], epochs=2, numProc=2, storePath=store, verbose=0).fit(blobs)  # warm ranks
    assert set(glob.glob(f"{tempfile.gettempdir()}/__autograph_generated_file*")) <= autograph
    sockets = glob.glob(f"{server_folder()}/*.sock")
    assert sockets and os.stat(server_folder()).st_mode & 0o777 == 0o700

    def connect():
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            try:
                connection.connect(sockets[0])
            except PermissionError:
                return 3  # refused, as it must be
        return 0
    assert _as_other_user(connect) == 3


def test_each_end_of_a_rank_servers_socket_knows_whether_the_other_is_the_same_user(shared_tmp):
    path = f"{shared_tmp}/server.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(path)
        os.chmod(path, 0o777)  # reachable, unlike a real server's: to see what the server itself checks
        listener.listen(2)

        def connect_and_wait():
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
                connection.connect(path)
                connection.recv(1)
        child = os.fork()
        if child == 0:
            os.setgid(OTHER)
            os.setuid(OTHER)
            connect_and_wait()
            os._exit(0)
        theirs, _ = listener.accept()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as mine:
            mine.connect(path)
            ours, _ = listener.accept()
            assert not same_user(theirs) and same_user(ours) and same_user(mine)
        theirs.close()
        ours.close()
        os.waitpid(child, 0)


def test_a_server_killed_without_its_clean_up_leaves_nothing_for_long(tmp_path):
    gone = "4999999-0123456789abcdef"  # an executor daemon's pid that does not exist
    for name in (f"{gone}.sock", f"{gone}.sock.lock", f"{gone}.sock.log"):
        (tmp_path / name).write_text("")
    (tmp_path / f"{gone}.sock.tmp").mkdir()
    (tmp_path / f"{gone}.sock.tmp" / "__autograph_generated_file1.py").write_text("")
    alive = f"{os.getpid()}-0123456789abcdef.sock.lock"
    (tmp_path / alive).write_text("")
    remove_stale(str(tmp_path))
    assert os.listdir(tmp_path) == [alive]


def test_an_idle_rank_server_ends_and_removes_its_files_and_a_silent_client_is_dropped(tmp_path):
    folder = private_folder(f"{server_folder()}/test-{os.getpid()}")
    path = f"{folder}/{os.getpid()}-idle.sock"
    env = {**os.environ, "HSM_RANK_SERVER_IDLE_SECONDS": "12"}
    server = subprocess.Popen([sys.executable, "-m", "horovod_spark_ml.training.executor.rank_server", path,
                               str(os.getpid())], env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not os.path.exists(path) and server.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as silent:
            silent.connect(path)
            started = time.monotonic()
            silent.settimeout(60)
            assert silent.recv(1) == b""  # its keeper gave up on it
            assert 9 < time.monotonic() - started < 30
        server.wait(timeout=60)  # idle for 12 s after that connection
        assert server.returncode == 0, server.stderr.read().decode()
        assert os.listdir(folder) == []
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        shutil.rmtree(folder)
