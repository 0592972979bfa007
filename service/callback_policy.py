"""Which callback URLs the service accepts: http or https, on a host of
CALLBACK_ALLOWED_HOSTS, and only while CALLBACK_SECRET signs the bodies. The inputs'
validator, the files' parameters and the OpenAPI document all read this one rule."""
import re


def callback_url_pattern(allowed_hosts: list[str]) -> str | None:
    """The callback URLs the service takes, as a regex that the OpenAPI document
    publishes too: http or https, a host of CALLBACK_ALLOWED_HOSTS (one without a port
    takes any port), then nothing or a path of printable characters. None: none."""
    hosts = [entry.replace(".", r"\.") + ("" if ":" in entry else "(?::[0-9]{1,5})?")
             for entry in allowed_hosts if re.fullmatch(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?", entry)]
    if not hosts:
        return None
    return f"^https?://(?:{'|'.join(hosts)})(?:[/?#][!-~]*)?$"


def callback_refusal(url: str, allowed_hosts: list[str], secret: str) -> str | None:
    """Why the service will not call `url` back, or None."""
    if not secret:
        return "callbacks are off here (no CALLBACK_SECRET)"
    pattern = callback_url_pattern(allowed_hosts)
    if pattern is None or not re.fullmatch(pattern, url):
        return "not an http or https URL on a host of CALLBACK_ALLOWED_HOSTS"
    return None
