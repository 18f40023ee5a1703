"""Drives a real JekCMS server with the Python client openapi-python-client generated from
openapi/openapi.json (scripts/generated-client.sh runs it with the client on PYTHONPATH).

Every call goes through the generated functions and every answer is read as the generated
type of its declared response, so a status, field or type the document declares wrongly
fails here: the client is built with raise_on_unexpected_status, and the models' from_dict
raise on a missing required field.

Environment: JEKCMS_URL, JEKCMS_API_KEY, JEKCMS_API_SECRET (an owner's key, on a fresh site).
"""

import os
import sys

from jekcms_client import AuthenticatedClient, Client
from jekcms_client.api.auth import token
from jekcms_client.api.posts import create_post, get_post, list_posts
from jekcms_client.models import (
    ErrorBody,
    ErrorCode,
    NewPost,
    PostEnvelope,
    PostList,
    PostStatus,
    TokenRequest,
    TokenResponseEnvelope,
)
from jekcms_client.types import UNSET


def expect(condition, what):
    if not condition:
        raise AssertionError(what)


def main():
    base = os.environ["JEKCMS_URL"]

    # The key exchange, through the generated client too.
    anonymous = Client(base_url=base, raise_on_unexpected_status=True)
    r = token.sync_detailed(
        client=anonymous,
        body=TokenRequest(
            api_key=os.environ["JEKCMS_API_KEY"],
            api_secret=os.environ["JEKCMS_API_SECRET"],
        ),
    )
    expect(r.status_code == 200, f"token: {r.status_code} {r.content!r}")
    expect(isinstance(r.parsed, TokenResponseEnvelope), f"token: {r.parsed!r}")
    client = AuthenticatedClient(
        base_url=base,
        token=r.parsed.data.access_token,
        raise_on_unexpected_status=True,
    )

    # Create: 201, the typed post, Location and ETag as declared.
    created = []
    for title in ["First from the generated client", "Second from the generated client"]:
        r = create_post.sync_detailed(
            client=client,
            body=NewPost(title=title, body="text", status=PostStatus.PUBLISHED, tags=["generated"]),
        )
        expect(r.status_code == 201, f"create: {r.status_code} {r.content!r}")
        expect(isinstance(r.parsed, PostEnvelope), f"create: {r.parsed!r}")
        post = r.parsed.data
        expect(post.title == title and post.status == PostStatus.PUBLISHED, f"create: {post!r}")
        expect(post.tags == ["generated"], f"create: tags {post.tags!r}")
        expect(r.headers["location"] == f"/api/v2/posts/{post.id}", f"create: {r.headers!r}")
        expect(r.headers.get("etag"), "create: no ETag")
        expect(r.headers["x-request-id"] == r.parsed.meta.request_id, "create: X-Request-Id")
        created.append(post)

    # List with a cursor: two pages of one, newest first, then the end.
    r = list_posts.sync_detailed(client=client, limit=1)
    expect(r.status_code == 200 and isinstance(r.parsed, PostList), f"list: {r.status_code} {r.content!r}")
    first = r.parsed
    expect([p.id for p in first.data] == [created[1].id], f"page 1: {first.data!r}")
    expect(first.meta.has_more and first.meta.limit == 1, f"page 1 meta: {first.meta!r}")
    expect(isinstance(first.meta.next_cursor, str), f"page 1 cursor: {first.meta.next_cursor!r}")
    r = list_posts.sync_detailed(client=client, limit=1, cursor=first.meta.next_cursor)
    expect(r.status_code == 200 and isinstance(r.parsed, PostList), f"list: {r.status_code} {r.content!r}")
    second = r.parsed
    expect([p.id for p in second.data] == [created[0].id], f"page 2: {second.data!r}")
    expect(not second.meta.has_more, f"page 2 meta: {second.meta!r}")
    expect(second.meta.next_cursor in (None, UNSET), f"page 2 cursor: {second.meta.next_cursor!r}")

    # Get by id: the same post; its ETag in If-None-Match answers 304.
    r = get_post.sync_detailed(created[0].id, client=client)
    expect(r.status_code == 200 and isinstance(r.parsed, PostEnvelope), f"get: {r.status_code} {r.content!r}")
    expect(r.parsed.data.to_dict() == created[0].to_dict(), f"get: {r.parsed.data!r}")
    r = get_post.sync_detailed(created[0].id, client=client, if_none_match=r.headers["etag"])
    expect(r.status_code == 304, f"get If-None-Match: {r.status_code}")

    # An invalid body: 422 VALIDATION_FAILED on the field, as the typed ErrorBody.
    r = create_post.sync_detailed(client=client, body=NewPost(title=" "))
    expect(r.status_code == 422 and isinstance(r.parsed, ErrorBody), f"invalid: {r.status_code} {r.content!r}")
    expect(r.parsed.success is False, f"invalid: {r.parsed!r}")
    codes = {(e.code, e.field) for e in r.parsed.errors}
    expect((ErrorCode.VALIDATION_FAILED, "title") in codes, f"invalid: {r.parsed.errors!r}")

    # A missing post: 404 NOT_FOUND, as the typed ErrorBody.
    missing = max(p.id for p in created) + 1000
    r = get_post.sync_detailed(missing, client=client)
    expect(r.status_code == 404 and isinstance(r.parsed, ErrorBody), f"missing: {r.status_code} {r.content!r}")
    expect([e.code for e in r.parsed.errors] == [ErrorCode.NOT_FOUND], f"missing: {r.parsed.errors!r}")

    print("generated client ok: create, two cursor pages, get (and 304), 422, 404")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"generated client check failed: {e}", file=sys.stderr)
        sys.exit(1)
