"""The example over HTTP, on a running server, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx


def unique(label: str) -> str:
    return f"{label} {uuid.uuid4().hex[:8]}"


def get(server, path: str, **params: Any) -> Any:
    response = httpx.get(f"{server.url}{path}", params=params, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def post(server, path: str, body: Any = None) -> httpx.Response:
    return httpx.post(f"{server.url}{path}", json=body, timeout=30)


def new_book(server, copies: int = 1, author: str | None = None) -> dict[str, Any]:
    response = post(
        server,
        "/api/books/",
        {
            "title": unique("Book"),
            "author": author or unique("Author"),
            "published": 2001,
            "copies": copies,
            "tags": ["test"],
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


def activity(server) -> list[str]:
    return [entry["message"] for entry in get(server, "/api/activity/")["activity"]]


def test_pages_report_the_database_in_use(server):
    assert get(server, "/healthz") == {"ok": True, "database": server.database}
    page = httpx.get(f"{server.url}/", timeout=30)
    assert page.status_code == 200
    assert "Pride and Prejudice" in page.text
    assert f"async ORM on {server.database}" in page.text


def test_the_sample_catalogue_with_related_objects(server):
    mysteries = get(server, "/api/books/", tag="mystery")["books"]
    assert [b["title"] for b in mysteries] == [
        "A Study in Scarlet",
        "The Hound of the Baskervilles",
    ]
    assert mysteries[1]["author"]["name"] == "Arthur Conan Doyle"  # select_related
    assert mysteries[1]["tags"] == ["gothic", "mystery"]  # prefetch_related
    verne = get(server, "/api/books/", q="verne")["books"]
    assert len(verne) == 3
    author = get(server, f"/api/authors/{verne[0]['author']['id']}/")
    assert [b["published"] for b in author["books"]] == [1864, 1870, 1872]


def test_statistics_gather_independent_queries(server):
    stats = get(server, "/api/stats/")
    assert stats["books"] == len(get(server, "/api/books/")["books"])
    assert stats["authors"] >= 10
    assert stats["popular_tags"][0]["tag"] == "novel"


def test_creating_a_book_is_one_transaction(server):
    title = unique("Dracula")
    response = post(
        server,
        "/api/books/",
        {"title": title, "author": "Bram Stoker", "published": 1897,
         "tags": ["gothic", "novel"], "copies": 2},
    )  # fmt: skip
    assert response.status_code == 201, response.text
    book = response.json()
    assert book["tags"] == ["gothic", "novel"]
    assert book["available"] == 2
    assert get(server, f"/api/books/{book['id']}/")["title"] == title
    assert f"Added {title!r} by Bram Stoker" in activity(server)
    bad = post(server, "/api/books/", {"title": "No author"})
    assert bad.status_code == 400
    assert "Expected title, author" in bad.json()["error"]


def test_borrow_and_return(server):
    book = new_book(server, copies=1)
    borrowed = post(server, f"/api/books/{book['id']}/borrow/", {"borrower": "ada"})
    assert borrowed.status_code == 201, borrowed.text
    refused = post(server, f"/api/books/{book['id']}/borrow/", {"borrower": "bob"})
    assert refused.status_code == 409
    detail = get(server, f"/api/books/{book['id']}/")
    assert detail["available"] == 0
    assert [loan["borrower"] for loan in detail["loans"]] == ["ada"]
    # The same page on prepared querysets.
    assert get(server, f"/api/books/{book['id']}/prepared/") == detail
    loan = borrowed.json()["id"]
    assert post(server, f"/api/loans/{loan}/return/").status_code == 200
    assert post(server, f"/api/loans/{loan}/return/").status_code == 409
    assert get(server, f"/api/books/{book['id']}/")["available"] == 1
    returned = get(server, f"/api/books/{book['id']}/prepared/")
    assert returned == get(server, f"/api/books/{book['id']}/")
    assert returned["loans"] == []
    missing = httpx.get(f"{server.url}/api/books/0/prepared/", timeout=30)
    assert missing.status_code == 404
    log = activity(server)
    # on_commit hooks: the committed borrow and return are logged, the
    # refused borrow (nothing committed) is not.
    assert f"ada returned {book['title']!r}" in log
    assert f"ada borrowed {book['title']!r}" in log
    assert not any(entry.startswith("bob ") for entry in log)


def assert_json_error(response: httpx.Response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    message = response.json()["error"]
    for word in words:
        assert word in message, message


def test_errors_are_json_http_errors(server):
    # Unknown ids and API paths: JSON 404s, not Django's HTML page.
    for path in ("/api/books/999999/", "/api/authors/999999/", "/api/nope/"):
        assert_json_error(httpx.get(f"{server.url}{path}", timeout=30), 404)
    assert_json_error(
        post(server, "/api/books/999999/borrow/", {"borrower": "x"}), 404, "Book"
    )
    assert_json_error(post(server, "/api/loans/999999/return/"), 404, "Loan")
    assert_json_error(post(server, "/api/books/1/borrow/", {"nobody": 1}), 400)
    # The wrong method: a JSON 405 naming the one to use.
    for path in ("/api/books/1/borrow/", "/api/loans/1/return/"):
        response = httpx.get(f"{server.url}{path}", timeout=30)
        assert_json_error(response, 405, "GET is not allowed", "use POST")
        assert response.headers["allow"] == "POST"
    response = post(server, "/api/stats/")
    assert_json_error(response, 405, "use GET")
    assert response.headers["allow"] == "GET"


def test_concurrent_borrowers_never_overbook(server):
    copies, borrowers = 3, 40
    book = new_book(server, copies=copies)

    async def main() -> list[int]:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            responses = await asyncio.gather(
                *(
                    client.post(
                        f"/api/books/{book['id']}/borrow/", json={"borrower": f"r{i}"}
                    )
                    for i in range(borrowers)
                )
            )
        return [response.status_code for response in responses]

    statuses = asyncio.run(main())
    assert sorted(statuses) == [201] * copies + [409] * (borrowers - copies)
    detail = get(server, f"/api/books/{book['id']}/")
    assert detail["available"] == 0
    assert len(detail["loans"]) == copies
    borrowed = [
        m for m in activity(server) if m.endswith(f"borrowed {book['title']!r}")
    ]
    assert len(borrowed) == copies


def test_concurrent_creates_share_one_new_author(server):
    author = unique("Anonymous")

    async def main() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            return await asyncio.gather(
                *(
                    client.post(
                        "/api/books/",
                        json={
                            "title": f"{author} vol. {i}",
                            "author": author,
                            "published": 2000 + i,
                        },
                    )  # fmt: skip
                    for i in range(10)
                )
            )

    responses = asyncio.run(main())
    assert [r.status_code for r in responses] == [201] * 10, [r.text for r in responses]
    assert len({r.json()["author"]["id"] for r in responses}) == 1
    books = get(server, "/api/books/", q=author)["books"]
    assert len(books) == 10


def test_many_concurrent_readers(server):
    async def main() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            requests = []
            for i in range(60):
                path = ("/api/stats/", "/api/books/", "/api/books/1/")[i % 3]
                requests.append(client.get(path))
            return await asyncio.gather(*requests)

    responses = asyncio.run(main())
    assert {r.status_code for r in responses} == {200}
    assert len({r.text for r in responses[1::3]}) == 1  # the same catalogue
