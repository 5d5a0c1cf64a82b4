-- The placement choice for dev mode and logs when a component runs in several clusters, as the
-- VS Code client offers it: before the command goes to the server, ask where the component
-- runs (`veladev.dev.placements`), offer the places with vim.ui.select and send the command
-- with the chosen `cluster` and `namespace`.
local M = {}

--- Server commands that act on one placement of a component (they take `cluster`/`namespace`).
M.COMMANDS = {
  "veladev.dev.up",
  "veladev.dev.start",
  "veladev.dev.run",
  "veladev.dev.debug",
  "veladev.dev.terminal",
  "veladev.dev.stopRun",
  "veladev.dev.end",
  "veladev.logs",
}

--- The server's answer, kept to well-formed entries.
local function read_placements(result)
  local out = {}
  for _, p in ipairs(type(result) == "table" and result or {}) do
    if type(p) == "table" and type(p.cluster) == "string" and type(p.namespace) == "string" then
      table.insert(out, { cluster = p.cluster, namespace = p.namespace })
    end
  end
  return out
end

--- "edge-2/shop": how a placement is listed.
function M.label(p)
  return p.cluster .. "/" .. p.namespace
end

--- Calls `send(arg)` with `arg` completed by the user's choice when `command` acts on one
--- placement and the component runs in two or more; not at all when the user cancels. An
--- argument that names its cluster already (`:VeladevLogs edge-1`) goes as it is.
function M.complete(client, bufnr, command, arg, send)
  if not vim.tbl_contains(M.COMMANDS, command) or type(arg) ~= "table" or type(arg.uri) ~= "string"
    or type(arg.cluster) == "string" then
    return send(arg)
  end
  local query = { uri = arg.uri, component = arg.component }
  local params = { command = "veladev.dev.placements", arguments = { query } }
  client.request("workspace/executeCommand", params, function(err, result)
    vim.schedule(function()
      -- Not deployed, or no cluster: the command's own answer says more than this one would.
      local places = err and {} or read_placements(result)
      if #places < 2 then
        return send(arg)
      end
      local prompt = ("%s runs in %d places: which one?"):format(arg.component or "The component", #places)
      vim.ui.select(places, { prompt = prompt, format_item = M.label, kind = "veladev.placement" }, function(choice)
        if choice then
          send(vim.tbl_extend("force", arg, { cluster = choice.cluster, namespace = choice.namespace }))
        end
      end)
    end)
  end, bufnr)
end

return M
