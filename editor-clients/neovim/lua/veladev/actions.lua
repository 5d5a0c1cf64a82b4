-- One-click actions in Neovim: code lenses (vim.lsp.codelens) shown and runnable, a user command
-- for every server command, the results that need the editor (a terminal in a split, the debug
-- attach configuration), work-done progress and dev state in the message area / statusline.
local M = {}

--- User command -> server command (every command the server offers for an Application).
M.COMMANDS = {
  VeladevDeploy = "veladev.deploy",
  VeladevPushTrigger = "veladev.pushAndTrigger",
  VeladevPromote = "veladev.promote",
  VeladevTerminate = "veladev.workflow.terminate",
  VeladevRestartWorkflow = "veladev.workflow.restart",
  VeladevStatus = "veladev.status",
  VeladevWriteCi = "veladev.writeCi",
  VeladevDevStart = "veladev.dev.up",
  VeladevDevRun = "veladev.dev.run",
  VeladevDevDebug = "veladev.dev.debug",
  VeladevDevTerminal = "veladev.dev.terminal",
  VeladevDevStopRun = "veladev.dev.stopRun",
  VeladevDevEnd = "veladev.dev.end",
  VeladevDevStatus = "veladev.dev.status",
  VeladevLogs = "veladev.logs",
  VeladevLogsStop = "veladev.logs.stop",
}
-- What the optional argument of a user command means (`:VeladevLogs edge-1`: that cluster's pod).
local ARGUMENT = { VeladevPromote = "step", VeladevWriteCi = "target", VeladevLogs = "cluster" }

M.dev = {} -- component -> last veladev/devState
M.progress = {} -- messages of work-done progress, newest last
M.results = {} -- command -> last result (tests read it)

--- "frontend: dev on · sync idle" for a statusline (`%{v:lua.require'veladev.actions'.status()}`).
function M.status()
  local parts = {}
  for comp, s in pairs(M.dev) do
    if s.state ~= "off" then
      local sync = type(s.sync) == "table" and s.sync.state or nil
      table.insert(parts, comp .. ": dev " .. s.state .. (sync and (" · sync " .. sync) or ""))
    end
  end
  return table.concat(parts, "  ")
end

local function server_prefix(cmd)
  local out = vim.deepcopy(cmd or {})
  if out[#out] == "lsp" then
    table.remove(out)
  end
  return out
end

--- Open the terminal the server asks for (`veladev dev terminal ...`) in a split; its leading
--- `veladev` is the server's own executable.
function M.open_terminal(argv, cmd)
  local full = vim.deepcopy(argv)
  if full[1] == "veladev" then
    table.remove(full, 1)
    full = vim.list_extend(server_prefix(cmd), full)
  end
  vim.cmd("botright split")
  vim.cmd("enew")
  local open = vim.fn.termopen or vim.fn.jobstart
  open(full, vim.fn.termopen and {} or { term = true })
  M.terminal_buf = vim.api.nvim_get_current_buf()
  vim.cmd("startinsert")
end

local function handle_result(command, result, cmd)
  if type(result) ~= "table" then
    return
  end
  M.results[command] = result
  if command == "veladev.dev.terminal" and type(result.command) == "table" then
    M.open_terminal(result.command, cmd)
  elseif command == "veladev.dev.debug" and type(result.attach) == "table" then
    local ok, dap = pcall(require, "dap")
    if ok then
      dap.run(result.attach)
    else
      vim.notify("veladev: debug attach configuration (install nvim-dap to attach): " .. vim.json.encode(result.attach))
    end
  end
end

local function output_buffer(name)
  local buf = vim.fn.bufnr(name)
  if buf == -1 then
    buf = vim.api.nvim_create_buf(false, true)
    vim.api.nvim_buf_set_name(buf, name)
    vim.cmd("botright split")
    vim.api.nvim_win_set_buf(0, buf)
    vim.cmd("wincmd p")
  end
  return buf
end

local function append_text(buf, text)
  local lines = vim.split(text, "\n", { plain = true })
  if lines[#lines] == "" then
    table.remove(lines)
  end
  vim.api.nvim_buf_set_lines(buf, -1, -1, false, lines)
end

--- A notification handler that appends `params.text` to the buffer `name_of(params)` names.
local function to_buffer(name_of)
  return function(_, params)
    if type(params) ~= "table" or not params.text then
      return
    end
    vim.schedule(function()
      append_text(output_buffer(name_of(params)), params.text)
    end)
  end
end

--- Handlers for the client config: lens refresh, command results, progress, dev state, run output.
function M.handlers(cmd)
  local default_exec = vim.lsp.handlers["workspace/executeCommand"]
  local default_progress = vim.lsp.handlers["$/progress"]
  return {
    ["workspace/codeLens/refresh"] = function()
      vim.schedule(function()
        pcall(vim.lsp.codelens.refresh)
      end)
      return vim.NIL
    end,
    ["workspace/executeCommand"] = function(err, result, ctx, config)
      if not err and ctx and ctx.params then
        handle_result(ctx.params.command, result, cmd)
      end
      if default_exec then
        return default_exec(err, result, ctx, config)
      end
    end,
    ["$/progress"] = function(err, params, ctx, config)
      local v = params and params.value or {}
      local text = v.message or v.title
      if text then
        table.insert(M.progress, text)
        vim.api.nvim_echo({ { "veladev: " .. text } }, false, {})
      end
      if default_progress then
        return default_progress(err, params, ctx, config)
      end
    end,
    ["veladev/devState"] = function(_, params)
      if type(params) == "table" and params.component then
        M.dev[params.component] = params
        vim.g.veladev_status = M.status()
      end
    end,
    ["veladev/runOutput"] = to_buffer(function(p)
      return "veladev://run/" .. (p.component or "app")
    end),
    -- A pod's log, one buffer per component and cluster (the cluster is in its name).
    ["veladev/logOutput"] = to_buffer(function(p)
      return ("veladev://logs/%s@%s/%s"):format(p.component or "app", p.cluster or "local", p.namespace or "")
    end),
  }
end

--- Keep the lenses current: on entering the buffer, after edits and saves.
function M.attach_lenses(bufnr)
  local group = vim.api.nvim_create_augroup("veladev_lenses_" .. bufnr, { clear = true })
  vim.api.nvim_create_autocmd({ "BufEnter", "InsertLeave", "BufWritePost", "CursorHold" }, {
    group = group,
    buffer = bufnr,
    callback = function()
      pcall(vim.lsp.codelens.refresh)
    end,
  })
  pcall(vim.lsp.codelens.refresh)
end

function M.create_user_commands(run_command)
  for user, server in pairs(M.COMMANDS) do
    local key = ARGUMENT[user]
    vim.api.nvim_create_user_command(user, function(args)
      local extra = {}
      if key and args.args ~= "" then
        extra[key] = args.args
      elseif args.args ~= "" then
        extra.component = args.args
      end
      run_command(server, 0, extra)
    end, { nargs = "?", desc = "veladev: " .. server })
  end
  vim.api.nvim_create_user_command("VeladevLens", function()
    vim.lsp.codelens.run()
  end, { desc = "Run the code lens on this line (veladev: Deploy, Promote, dev mode...)" })
end

return M
