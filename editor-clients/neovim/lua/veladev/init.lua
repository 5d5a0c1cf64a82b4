-- veladev for Neovim: starts `veladev lsp` for KubeVela Application YAML buffers.
--
--   require("veladev").setup({
--     cmd = { "/path/to/.venv/bin/veladev", "lsp" },   -- default: { "veladev", "lsp" }
--     settings = { veladev = { kubeconfig = "~/.kube/config" } },
--     on_attach = function(client, bufnr) ... end,     -- your keymaps
--   })
--
-- Neovim 0.8+ uses vim.lsp.start (one client per root, reused); 0.7 falls back to
-- vim.lsp.start_client + vim.lsp.buf_attach_client.
local detect = require("veladev.detect")
local actions = require("veladev.actions")
local placements = require("veladev.placements")

local M = {}

M.defaults = {
  name = "veladev",
  cmd = { "veladev", "lsp" },
  filetypes = { "yaml" },
  root_markers = { ".git", ".vela", "vela.yaml" },
  settings = { veladev = {} },
  on_attach = nil,
  capabilities = nil,
}

M.config = vim.deepcopy(M.defaults)
local legacy_client_id -- 0.7 only: one client for the session

local function has_start()
  return type(vim.lsp.start) == "function"
end

local function root_dir(bufnr)
  local name = vim.api.nvim_buf_get_name(bufnr)
  local start = name ~= "" and vim.fn.fnamemodify(name, ":p:h") or vim.fn.getcwd()
  local found = vim.fs and vim.fs.find and vim.fs.find(M.config.root_markers, { path = start, upward = true })[1]
  if found then
    return vim.fn.fnamemodify(found, ":h")
  end
  return start
end

-- An empty Lua table is sent as a JSON list; the server wants an object for `veladev`.
local function wire_settings(settings)
  local out = vim.deepcopy(settings or {})
  if type(out.veladev) ~= "table" or vim.tbl_isempty(out.veladev) then
    out.veladev = vim.empty_dict()
  end
  return out
end

-- Neovim 0.7 answers workspace/configuration (from `settings`) but does not advertise it,
-- and the server only reads settings that way: say so.
local function capabilities()
  local caps = M.config.capabilities or vim.lsp.protocol.make_client_capabilities()
  caps = vim.deepcopy(caps)
  caps.workspace = caps.workspace or {}
  if caps.workspace.configuration == nil and vim.lsp.handlers["workspace/configuration"] then
    caps.workspace.configuration = true
  end
  return caps
end

local function client_config(bufnr)
  return {
    name = M.config.name,
    cmd = M.config.cmd,
    root_dir = root_dir(bufnr),
    settings = wire_settings(M.config.settings),
    capabilities = capabilities(),
    handlers = actions.handlers(M.config.cmd),
    on_attach = function(client, buf)
      actions.attach_lenses(buf)
      if M.config.on_attach then
        M.config.on_attach(client, buf)
      end
    end,
  }
end

--- The veladev clients that are running.
function M.clients()
  local all = vim.lsp.get_clients and vim.lsp.get_clients() or vim.lsp.get_active_clients()
  local out = {}
  for _, c in ipairs(all) do
    if c.name == M.config.name then
      table.insert(out, c)
    end
  end
  return out
end

local function client_for(bufnr)
  for _, c in ipairs(M.clients()) do
    if vim.lsp.buf_is_attached(bufnr, c.id) then
      return c
    end
  end
  return M.clients()[1]
end

--- Attach the server to the buffer if it is a KubeVela Application (and not yet attached).
function M.attach(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  if not vim.tbl_contains(M.config.filetypes, vim.bo[bufnr].filetype) then
    return
  end
  if not detect.is_application(bufnr) then
    return
  end
  for _, c in ipairs(M.clients()) do
    if vim.lsp.buf_is_attached(bufnr, c.id) then
      return
    end
  end
  if has_start() then
    local id = vim.lsp.start(client_config(bufnr), { bufnr = bufnr })
    if id and not vim.lsp.buf_is_attached(bufnr, id) then
      vim.lsp.buf_attach_client(bufnr, id)
    end
  else
    if not legacy_client_id or not vim.lsp.get_client_by_id(legacy_client_id) then
      legacy_client_id = vim.lsp.start_client(client_config(bufnr))
    end
    if legacy_client_id then
      vim.lsp.buf_attach_client(bufnr, legacy_client_id)
    end
  end
end

--- Replace the `veladev` settings and tell the running servers (workspace/didChangeConfiguration).
function M.set_settings(veladev_settings)
  M.config.settings = vim.tbl_deep_extend("force", M.config.settings or {}, { veladev = veladev_settings })
  local settings = wire_settings(M.config.settings)
  for _, c in ipairs(M.clients()) do
    c.config.settings = settings -- what Neovim answers to workspace/configuration
    if c.settings ~= nil then
      c.settings = settings -- 0.11 keeps its own copy
    end
    c.notify("workspace/didChangeConfiguration", { settings = settings })
  end
end

--- Commands the server announces (executeCommandProvider).
function M.server_commands()
  local names, seen = {}, {}
  for _, c in ipairs(M.clients()) do
    local provider = (c.server_capabilities or c.resolved_capabilities or {}).executeCommandProvider
    for _, name in ipairs(type(provider) == "table" and provider.commands or {}) do
      if not seen[name] then
        seen[name] = true
        table.insert(names, name)
      end
    end
  end
  table.sort(names)
  return names
end

--- Send `workspace/executeCommand` to `client`: errors and plain answers are shown, results
--- go to the client's handler (terminal, debug attach...).
local function execute(client, bufnr, name, arguments)
  local params = { command = name, arguments = arguments }
  local handler = client.handlers and client.handlers["workspace/executeCommand"]
  client.request("workspace/executeCommand", params, function(err, result, ctx, config)
    if err then
      vim.notify(("veladev: %s failed: %s"):format(name, err.message or vim.inspect(err)), vim.log.levels.ERROR)
    elseif result ~= nil and result ~= vim.NIL and type(result) ~= "table" then
      vim.notify(("veladev: %s: %s"):format(name, vim.inspect(result))) -- tables: the server showed a message
    end
    if handler and not err then
      handler(err, result, ctx or { params = params, client_id = client.id, bufnr = bufnr }, config)
    end
  end, bufnr)
end

--- Run a server-announced command with {uri = <buffer's URI>, ...extra} as its argument (dev
--- mode and logs first ask for the placement when the component runs in several).
function M.run_command(name, bufnr, extra)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local client = client_for(bufnr)
  if not client then
    vim.notify("veladev: the language server is not running (open a KubeVela Application)", vim.log.levels.WARN)
    return
  end
  local arg = vim.tbl_extend("force", { uri = vim.uri_from_bufnr(bufnr) }, extra or {})
  placements.complete(client, bufnr, name, arg, function(chosen)
    execute(client, bufnr, name, { chosen })
  end)
end

--- Code lenses of dev mode and logs ask for the placement too: Neovim runs a lens's command
--- through vim.lsp.commands when one is registered under its name.
local function register_lens_commands()
  for _, name in ipairs(placements.COMMANDS) do
    vim.lsp.commands[name] = function(command, ctx)
      local client = vim.lsp.get_client_by_id(ctx.client_id)
      if not client then
        return
      end
      local arguments = command.arguments or {}
      if #arguments ~= 1 then
        return execute(client, ctx.bufnr, name, arguments)
      end
      placements.complete(client, ctx.bufnr, name, arguments[1], function(chosen)
        execute(client, ctx.bufnr, name, { chosen })
      end)
    end
  end
end

local function restart()
  for _, c in ipairs(M.clients()) do
    c.stop()
  end
  legacy_client_id = nil
  vim.defer_fn(function()
    for _, buf in ipairs(vim.api.nvim_list_bufs()) do
      if vim.api.nvim_buf_is_loaded(buf) then
        M.attach(buf)
      end
    end
  end, 500)
end

local function create_user_commands()
  vim.api.nvim_create_user_command("VeladevCommand", function(args)
    if args.args == "" then
      local names = M.server_commands()
      if #names == 0 then
        vim.notify("veladev: the server announces no commands")
        return
      end
      vim.ui.select(names, { prompt = "veladev server command" }, function(choice)
        if choice then
          M.run_command(choice)
        end
      end)
    else
      M.run_command(args.args)
    end
  end, {
    nargs = "?",
    complete = function()
      return M.server_commands()
    end,
    desc = "Run a command announced by the veladev language server",
  })
  vim.api.nvim_create_user_command("VeladevRestart", restart, { desc = "Restart the veladev language server" })
  vim.api.nvim_create_user_command("VeladevLog", function()
    vim.cmd("tabnew " .. vim.fn.fnameescape(vim.lsp.get_log_path()))
  end, { desc = "Open the LSP log (the server's stderr and messages)" })
end

function M.setup(opts)
  M.config = vim.tbl_deep_extend("force", vim.deepcopy(M.defaults), opts or {})
  if opts and opts.cmd then
    M.config.cmd = opts.cmd -- lists are replaced, not merged
  end
  local group = vim.api.nvim_create_augroup("veladev", { clear = true })
  vim.api.nvim_create_autocmd("FileType", {
    group = group,
    pattern = M.config.filetypes,
    callback = function(args)
      M.attach(args.buf)
    end,
  })
  -- A YAML buffer can become an Application while it is edited.
  vim.api.nvim_create_autocmd({ "InsertLeave", "BufWritePost" }, {
    group = group,
    callback = function(args)
      M.attach(args.buf)
    end,
  })
  create_user_commands()
  actions.create_user_commands(M.run_command)
  register_lens_commands()
  for _, buf in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(buf) then
      M.attach(buf)
    end
  end
end

return M
