"""A real signing through the browser, then the evidence bundle downloaded from the confirmation page and
checked by independent tools: xmlsec1 for the XML signature, openssl for the OCSP response."""

import io
import subprocess
import zipfile

import pytest
from django.core.management import call_command
from django.urls import reverse

from tests.agreements.test_browser import heading, sign_with_bankid_on_card
from tests.agreements.test_evidence_bundle import SIGNATURE_FILES

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_the_downloaded_bundle_passes_xmlsec1_openssl_and_verify_evidence(page, browser, demo, mock_bankid, tmp_path):
    page.login(demo.anna)
    page.goto(reverse("service", args=[demo.exempelbolaget.pk]))
    page.get_by_label("Inkommen e-faktura").check()
    page.get_by_role("button", name="Anslut").click()
    sign_with_bankid_on_card(page, browser, mock_bankid, demo.anna)
    page.wait_for_url("**/kvittens/**", timeout=15_000)
    assert heading(page) == "Företaget är anslutet till tjänsten Bevaka ärenden"

    with page.expect_download() as downloading:
        page.get_by_role("link", name="Ladda ner signeringsbevis (zip)").click()
    bundle = tmp_path / downloading.value.suggested_filename
    downloading.value.save_as(bundle)
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
        archive.extractall(tmp_path / "bundle")
    assert {"README.txt", "content.txt", "content.sha256", "root.pem"} <= names
    assert {f"signature-1/{name}" for name in SIGNATURE_FILES} <= names

    root = tmp_path / "mock-root.pem"  # the root as the mock exports it, not the bundle's own copy
    call_command("mock_bankid", "--export-root", str(root), stdout=io.StringIO())
    folder = tmp_path / "bundle" / "signature-1"
    xmlsec = subprocess.run(
        ["xmlsec1", "--verify", "--trusted-pem", str(root), "--id-attr:Id", "bankIdSignedData", "signature.xml"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert xmlsec.returncode == 0, xmlsec.stderr
    assert "SignedInfo References (ok/all): 2/2" in xmlsec.stderr
    openssl = subprocess.run(
        ["openssl", "ocsp", "-respin", "ocsp.der", "-CAfile", str(root), "-resp_text"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert openssl.returncode == 0 and "Response verify OK" in openssl.stderr
    assert "Cert Status: good" in openssl.stdout
    assert subprocess.run(["sha256sum", "-c", "content.sha256"], cwd=tmp_path / "bundle").returncode == 0

    out = io.StringIO()
    call_command("verify_evidence", str(bundle), stdout=out)
    assert "Verification passed." in out.getvalue()
