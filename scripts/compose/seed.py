"""docker-compose.yml's `seed` profile: casts votes through the vote form, as a crowd would.

Each vote is a new voter: it loads the ballot (cookie and CSRF token) and posts the form, so the
votes go the whole way (confirm, queue, tally-worker). SEED_VOTES votes (default 3000), about
60% for the first option, from SEED_CLIENTS concurrent clients.
"""

import concurrent.futures
import http.cookiejar
import os
import random
import re
import sys
import urllib.parse
import urllib.request

URL = os.environ.get("VOTE_URL", "http://vote-service:8080")
VOTES = int(os.environ.get("SEED_VOTES", "3000"))
CLIENTS = int(os.environ.get("SEED_CLIENTS", "20"))


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def vote(_: int) -> bool:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
    page = opener.open(URL + "/", timeout=10).read().decode()
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    options = re.findall(r'name="vote" value="([^"]+)"', page)
    choice = options[0] if random.random() < 0.6 else random.choice(options[1:])
    body = urllib.parse.urlencode({"vote": choice, "csrf": token}).encode()
    try:
        opener.open(URL + "/vote", data=body, timeout=10)
    except urllib.error.HTTPError as answer:
        return answer.code == 303
    return False


def main() -> int:
    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
        confirmed = sum(pool.map(vote, range(VOTES)))
    print(f"{confirmed} of {VOTES} votes confirmed")
    return 0 if confirmed == VOTES else 1


if __name__ == "__main__":
    sys.exit(main())
