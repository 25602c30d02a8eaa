#!/usr/bin/env python3
"""The web page in a real browser (Debian's headless Chromium through chromedriver).

Driven by tests/e2e/web-browser.sh, which runs `classlab serve --http` over a lab of
real tiny guests and passes the links. Checks: the student opens their link and sees
the SSH line, starts the VM, downloads the bundle (stock OpenSSH logs in with it,
strict host key), stops the VM; a reused link is refused; a POST without the CSRF
token is refused; another student's session gets 403 on the first student's URLs; the
instructor sees every student and the chart. Screenshots of both pages go to --shots.
"""
import argparse
import os
import subprocess
import sys
import time
import zipfile

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def ok(msg):
    print("ok: " + msg)


def browser(download_dir):
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000",
              "--disable-dev-shm-usage", "--no-first-run", "--password-store=basic"):
        opts.add_argument(a)
    opts.add_experimental_option("prefs", {
        "download.default_directory": download_dir,
        "download.prompt_for_download": False,
        "safebrowsing.enabled": False,
    })
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


def text(d, css):
    return d.find_element(By.CSS_SELECTOR, css).text


def wait_for(pred, seconds, what):
    end = time.time() + seconds
    while time.time() < end:
        if pred():
            return
        time.sleep(0.5)
    fail(what)


def status_of_fetch(d, url, body):
    """A same-origin POST from the page's own context, as a forged form would be."""
    return d.execute_async_script(
        "var cb = arguments[arguments.length - 1];"
        "fetch(arguments[0], {method: 'POST', credentials: 'same-origin', redirect: 'manual',"
        " headers: {'Content-Type': 'application/x-www-form-urlencoded'}, body: arguments[1]})"
        ".then(function (r) { cb(r.status); }, function (e) { cb('error ' + e); });",
        url, body)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--lab", required=True)
    ap.add_argument("--alice", required=True)
    ap.add_argument("--bob", required=True)
    ap.add_argument("--admin", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--shots", required=True)
    ap.add_argument("--jupyter-port", required=True)
    a = ap.parse_args()
    lab, base = a.lab, a.base
    dl = os.path.join(a.work, "downloads")
    os.makedirs(dl, exist_ok=True)

    d = browser(dl)
    d.set_script_timeout(30)
    try:
        # -- the student: link, page, SSH line --
        d.get(a.alice)
        if not d.current_url.endswith("/s/%s/alice" % lab):
            fail("alice's link led to " + d.current_url)
        ssh = text(d, "#ssh")
        if not ssh.startswith("ssh -p "):
            fail("no SSH line: " + ssh)
        ok("the student's page shows the SSH line: " + ssh)
        if "-L 8888:localhost:8888" not in text(d, "#tunnel"):
            fail("no tunnel line")
        if text(d, "#vm-state") != "shut off":
            fail("VM state before start: " + text(d, "#vm-state"))
        hint = text(d, "#quota-hint")
        if "hours left" not in hint:
            fail("outside class the page does not say the quota left: " + hint)
        ok("before starting it says: " + hint)
        cookies = {c["name"]: c for c in d.get_cookies()}
        c = cookies.get("classlab_session")
        if not c or not c.get("httpOnly") or c.get("sameSite") != "Strict":
            fail("the session cookie: %r" % c)
        ok("session cookie HttpOnly, SameSite=Strict")

        # -- a POST without the CSRF token changes nothing --
        st = status_of_fetch(d, "/s/%s/alice/start" % lab, "")
        if st != 403:
            fail("a POST without the CSRF token: %r" % st)
        d.refresh()
        if text(d, "#vm-state") != "shut off":
            fail("a refused POST started the VM")
        ok("a POST without the CSRF token gets 403 and starts nothing")

        # -- start --
        d.find_element(By.ID, "start").click()
        wait_for(lambda: d.find_elements(By.ID, "vm-state") and
                 text(d, "#vm-state") == "running", 120, "the VM did not start from the page")
        ok("started from the page")
        d.save_screenshot(os.path.join(a.shots, "web-student.png"))

        # -- the bundle: a zip; stock OpenSSH logs in with it (strict host key) --
        d.find_element(By.ID, "bundle").click()
        z = os.path.join(dl, "%s-alice.zip" % lab)
        wait_for(lambda: os.path.exists(z) and not os.path.exists(z + ".crdownload"), 30,
                 "the bundle was not downloaded")
        ex = os.path.join(a.work, "bundle")
        zipfile.ZipFile(z).extractall(ex)
        top = os.path.join(ex, "%s-alice" % lab)
        os.chmod(os.path.join(top, "id_ed25519"), 0o600)
        cfg = open(os.path.join(top, "ssh_config")).read()
        if "StrictHostKeyChecking yes" not in cfg:
            fail("the bundle's ssh_config is not strict")
        end = time.time() + 240
        while True:
            r = subprocess.run(["ssh", "-F", "ssh_config", "-o", "BatchMode=yes",
                                "-o", "ConnectTimeout=5", "%s-alice" % lab, "echo", "in-the-vm"],
                               cwd=top, capture_output=True, text=True, timeout=60)
            if r.returncode == 0 and "in-the-vm" in r.stdout:
                break
            if time.time() > end:
                fail("ssh with the downloaded bundle: %s" % r.stderr)
            time.sleep(3)
        ok("stock OpenSSH logs in with the downloaded bundle (strict host key)")

        # -- Open Jupyter: the tiny guest has no Jupyter; its stand-in page on the VM's
        #    127.0.0.1:8888 ("classlab tiny <host>", busybox httpd) is what the proxy
        #    must reach through the pinned SSH connection --
        d.get(base + "/s/%s/alice" % lab)
        href = d.find_element(By.ID, "jupyter").get_attribute("href")
        if not href.endswith(":%s/" % a.jupyter_port):
            fail("the Open Jupyter link: " + href)
        d.get(href + "index.html?probe=1")
        if "classlab tiny" not in d.find_element(By.TAG_NAME, "body").text:
            fail("Open Jupyter did not reach the VM's port 8888: " + d.page_source[:300])
        ok("Open Jupyter reaches the VM's 127.0.0.1:8888 through the service (HTTP)")
        d.get(base + "/s/%s/alice" % lab)

        # -- stop --
        d.get(base + "/s/%s/alice" % lab)
        d.find_element(By.ID, "stop").click()
        wait_for(lambda: d.find_elements(By.ID, "vm-state") and
                 text(d, "#vm-state") == "shut off", 120, "the VM did not stop from the page")
        ok("stopped from the page")

        # -- a reused link --
        d.delete_all_cookies()
        d.get(a.alice)
        if "already used" not in d.page_source:
            fail("a reused link was not refused")
        ok("a reused link is refused")

        # -- bob: 403 on alice's URLs --
        d.get(a.bob)
        if not d.current_url.endswith("/s/%s/bob" % lab):
            fail("bob's link led to " + d.current_url)
        for u in ("/s/%s/alice" % lab, "/s/%s/alice/bundle.zip" % lab, "/admin"):
            d.get(base + u)
            if "Not yours" not in d.title and "Instructors only" not in d.title:
                fail("bob on %s: %s" % (u, d.title))
        d.get(base + "/s/%s/bob" % lab)
        token = d.execute_script("return document.querySelector('input[name=csrf]').value;")
        st = status_of_fetch(d, "/s/%s/alice/start" % lab, "csrf=" + token)
        if st != 403:
            fail("bob's POST to alice's start: %r" % st)
        ok("bob's session gets 403 on alice's page, bundle, start and on /admin")

        # -- the instructor: every student, the chart --
        d.delete_all_cookies()
        d.get(a.admin)
        if not d.current_url.endswith("/admin"):
            fail("the admin link led to " + d.current_url)
        rows = [r.find_element(By.CSS_SELECTOR, "td").text
                for r in d.find_elements(By.CSS_SELECTOR, "tr.student")]
        if sorted(rows) != ["alice", "bob"]:
            fail("the instructors' table: %r" % rows)
        img = d.find_element(By.CSS_SELECTOR, "img.chart")
        wait_for(lambda: d.execute_script("return arguments[0].complete && "
                                          "arguments[0].naturalWidth > 0;", img), 20,
                 "the chart did not load")
        ok("the instructor sees every student (%s) and the chart" % ", ".join(rows))
        d.save_screenshot(os.path.join(a.shots, "web-instructor.png"))
        d.get("http://127.0.0.1:%s/" % a.jupyter_port)
        if "Students only" not in d.title:
            fail("an instructor's session on the Jupyter origin: " + d.title)
        ok("an instructor's session gets 403 on the Jupyter origin")
    finally:
        d.quit()


if __name__ == "__main__":
    main()
