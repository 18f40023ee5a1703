-- POST /mcp: one `tools/call` of list_posts at the REST list's default page size (20), as an
-- agent's client sends it; the mcp_ token comes from wrk's -H Authorization.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["MCP-Protocol-Version"] = "2025-11-25"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_posts","arguments":{"limit":20}}}'
