"""Drives /mcp with the official MCP Python SDK (`mcp`), as another implementation of the
protocol than the server's: connects (the SDK negotiates the revision), lists the tools,
calls list_posts, create_post and get_post, reads the post as a resource, and fails on any
answer that is not what API.md §11 says. Run by scripts/mcp-python.sh."""

import asyncio
import os
import sys

from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

EXPECTED_TOOLS = {
    "create_post", "delete_post", "get_media", "get_post", "get_site", "list_media",
    "list_posts", "publish_post", "search_posts", "unpublish_post", "update_post",
}


def check(condition, what):
    if not condition:
        print(f"mismatch: {what}", file=sys.stderr)
        sys.exit(1)


async def main():
    url = os.environ["JEKCMS_URL"] + "/mcp"
    http = create_mcp_http_client(headers={"Authorization": "Bearer " + os.environ["JEKCMS_MCP_TOKEN"]})
    async with Client(streamable_http_client(url, http_client=http)) as client:
        version = client.session.protocol_version
        check(version in ("2025-11-25", "2025-06-18", "2025-03-26"), f"negotiated revision {version}")

        tools = (await client.list_tools()).tools
        check({t.name for t in tools} == EXPECTED_TOOLS, f"tools {sorted(t.name for t in tools)}")
        for t in tools:
            check(t.input_schema.get("type") == "object", f"{t.name} input schema")
            check((t.output_schema or {}).get("type") == "object", f"{t.name} output schema")

        empty = await client.call_tool("list_posts", {"limit": 5})
        check(not empty.is_error, f"list_posts: {empty}")
        check(empty.structured_content["items"] == [], f"list_posts on an empty site: {empty.structured_content}")
        check(empty.structured_content["has_more"] is False, "has_more")

        created = await client.call_tool("create_post", {"title": "From Python", "tags": ["py"], "body": "Made by the Python SDK."})
        check(not created.is_error, f"create_post: {created}")
        post = created.structured_content
        check(post["slug"] == "from-python" and post["status"] == "draft", f"created post {post}")

        fetched = await client.call_tool("get_post", {"slug": "from-python"})
        check(not fetched.is_error and fetched.structured_content == post, f"get_post: {fetched}")

        listed = await client.call_tool("list_posts", {"limit": 5})
        check([p["id"] for p in listed.structured_content["items"]] == [post["id"]], f"list_posts: {listed.structured_content}")

        refused = await client.call_tool("get_post", {"id": 999999})
        check(refused.is_error and refused.content[0].text.startswith("NOT_FOUND: "), f"missing post: {refused}")

        templates = (await client.list_resource_templates()).resource_templates
        check([t.uri_template for t in templates] == ["jekcms://posts/{id}"], f"templates {templates}")
        read = await client.read_resource(f"jekcms://posts/{post['id']}")
        text = read.contents[0].text
        check(read.contents[0].mime_type == "text/markdown", "resource MIME type")
        check(text.startswith(f"---\nid: {post['id']}\ntitle: \"From Python\"\n"), f"front matter: {text!r}")
        check(text.endswith("---\n\nMade by the Python SDK.\n"), f"body: {text!r}")
    print(f"mcp-python: ok (revision {version}, {len(tools)} tools)")


asyncio.run(main())
