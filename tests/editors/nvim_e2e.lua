-- Headless Neovim scenario for test_neovim.py: the veladev plugin against the real server.
-- Environment: VELADEV_PLUGIN (plugin dir), VELADEV_CMD (JSON argv), VELADEV_OUT (JSON result),
-- VELADEV_CODE, VELADEV_FIX, VELADEV_PROPS_LINE, VELADEV_PLAIN (a non-Application YAML file).
-- Every wait polls with a generous timeout; nothing measures time.
vim.opt.rtp:prepend(os.getenv("VELADEV_PLUGIN"))
vim.opt.swapfile = false

local out = { steps = {} }
local function step(msg)
  table.insert(out.steps, msg)
end
local function finish(ok, err)
  out.ok = ok
  out.error = err
  local f = assert(io.open(os.getenv("VELADEV_OUT"), "w"))
  f:write(vim.json.encode(out))
  f:close()
  for _, c in ipairs(require("veladev").clients()) do
    c.stop()
  end
  vim.wait(5000, function()
    return #require("veladev").clients() == 0
  end, 100)
  vim.cmd("qall!")
end

require("veladev").setup({
  cmd = vim.json.decode(os.getenv("VELADEV_CMD")),

})

local CODE = os.getenv("VELADEV_CODE")

-- The same scenario runs on Neovim 0.11 (vim.lsp.start) and 0.7 (start_client fallback).
local function clients_for(bufnr)
  local out = {}
  for _, c in ipairs(require("veladev").clients()) do
    if vim.lsp.buf_is_attached(bufnr, c.id) then
      table.insert(out, c)
    end
  end
  return out
end

-- Messages the server shows (window/showMessage).
out.messages = {}
local show_message = vim.lsp.handlers["window/showMessage"]
vim.lsp.handlers["window/showMessage"] = function(err, params, ctx, config)
  table.insert(out.messages, params and params.message or "")
  return show_message(err, params, ctx, config)
end
local FIX = os.getenv("VELADEV_FIX")

local function find_diag(bufnr)
  for _, d in ipairs(vim.diagnostic.get(bufnr)) do
    local code = d.code or (d.user_data and d.user_data.lsp and d.user_data.lsp.code)
    if code == CODE then
      return d
    end
  end
end

local function scenario()
  local buf = vim.api.nvim_get_current_buf()
  local ver = vim.version()
  out.nvim = string.format("%d.%d.%d", ver.major, ver.minor, ver.patch)
  local v = require("veladev")

  assert(vim.wait(60000, function()
    return #clients_for(buf) > 0
  end, 100), "the veladev client never attached to the Application")
  local client = clients_for(buf)[1]
  out.settings_sent = client.settings or client.config.settings
  step("attached")
  assert(vim.wait(60000, function()
    local caps = client.server_capabilities or client.resolved_capabilities
    return client.initialized or (caps ~= nil and next(caps) ~= nil)
  end, 100), "the server never finished initialize")
  out.server_commands = v.server_commands()
  out.user_commands = vim.tbl_keys(vim.api.nvim_get_commands({}))

  -- 1. the diagnostic
  assert(vim.wait(60000, function()
    return find_diag(buf) ~= nil
  end, 100), "no " .. CODE .. " diagnostic")
  local d = find_diag(buf)
  out.diagnostic = { lnum = d.lnum, col = d.col, severity = d.severity, message = d.message, source = d.source }
  step("diagnostic")

  -- 2. the code actions offered there, and applying the quick fix
  vim.api.nvim_win_set_cursor(0, { d.lnum + 1, d.col })
  local params = vim.lsp.util.make_range_params(0, client.offset_encoding)
  params.context = { diagnostics = vim.lsp.diagnostic.get_line_diagnostics and
    vim.lsp.diagnostic.get_line_diagnostics(buf, d.lnum) or { d.user_data.lsp }, only = { "quickfix" } }
  local responses = vim.lsp.buf_request_sync(buf, "textDocument/codeAction", params, 30000) or {}
  out.code_actions = {}
  local fix_action
  for _, r in pairs(responses) do
    for _, a in ipairs(r.result or {}) do
      table.insert(out.code_actions, a.title)
      if a.title == FIX then
        fix_action = a
      end
    end
  end
  local applied = false
  for attempt = 1, 3 do
    if ver.minor >= 8 then
      -- What a user runs: the code action menu, filtered to the fix and applied.
      vim.lsp.buf.code_action({
        apply = true,
        context = { only = { "quickfix" } },
        filter = function(a)
          return a.title == FIX
        end,
      })
    elseif fix_action then
      -- 0.7's code_action() has no filter/apply: it offers the actions through vim.ui.select
      -- (items are {client_id, action}); pick the fix there, as a user would in the menu.
      local select = vim.ui.select
      vim.ui.select = function(items, opts, on_choice)
        vim.ui.select = select
        out.menu = {}
        for i, item in ipairs(items) do
          local action = item.action or item[2]
          table.insert(out.menu, action.title)
          if action.title == FIX then
            return on_choice(item, i)
          end
        end
        on_choice(nil, nil)
      end
      vim.lsp.buf.code_action({ only = { "quickfix" } })
    end
    applied = vim.wait(20000, function()
      local line = vim.api.nvim_buf_get_lines(buf, d.lnum, d.lnum + 1, false)[1] or ""
      return line:find("sendReceive", 1, true) ~= nil
    end, 100)
    if applied then
      break
    end
    step("code action attempt " .. attempt .. " did not change the buffer")
  end
  assert(applied, "the quick fix did not change the buffer")
  out.fixed_line = vim.api.nvim_buf_get_lines(buf, d.lnum, d.lnum + 1, false)[1]
  vim.cmd("silent write")
  step("fixed and written")

  -- 3. the diagnostic goes away
  assert(vim.wait(60000, function()
    return find_diag(buf) == nil
  end, 100), "the diagnostic stayed after the fix")
  out.diagnostics_after = #vim.diagnostic.get(buf, { severity = vim.diagnostic.severity.ERROR })
  step("diagnostic gone")

  -- 4. completion inside the nocalhost trait's properties, on a new line after `port: 80`
  local props = tonumber(os.getenv("VELADEV_PROPS_LINE")) -- 1-based
  local indent = vim.api.nvim_buf_get_lines(buf, props - 1, props, false)[1]:match("^(%s*)")
  vim.api.nvim_buf_set_lines(buf, props, props, false, { indent })
  local cparams = {
    textDocument = { uri = vim.uri_from_bufnr(buf) },
    position = { line = props, character = #indent },
    context = { triggerKind = 1 },
  }
  out.completion = {}
  for _ = 1, 3 do
    local cres = vim.lsp.buf_request_sync(buf, "textDocument/completion", cparams, 30000) or {}
    for _, r in pairs(cres) do
      local items = r.result and (r.result.items or r.result) or {}
      for _, item in ipairs(items) do
        table.insert(out.completion, item.label)
      end
    end
    if #out.completion > 0 then
      break
    end
    vim.wait(1000)
  end
  step("completion")

  -- 4b. hover, document symbols and go-to-definition through Neovim's client
  local function first_result(method, params)
    for _ = 1, 3 do
      for _, r in pairs(vim.lsp.buf_request_sync(buf, method, params, 30000) or {}) do
        if r.result ~= nil and r.result ~= vim.NIL then
          return r.result
        end
      end
      vim.wait(1000)
    end
  end
  local lines = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
  local function find_line(needle)
    for i, l in ipairs(lines) do
      if l:find(needle, 1, true) then
        return i - 1, l
      end
    end
  end
  local uri = vim.uri_from_bufnr(buf)
  local tl, tline = find_line("- type: nocalhost")
  local hover = first_result("textDocument/hover",
    { textDocument = { uri = uri }, position = { line = tl, character = tline:find("nocalhost", 1, true) } })
  out.hover = hover and (type(hover.contents) == "table" and (hover.contents.value or vim.inspect(hover.contents)) or tostring(hover.contents))
  local symbols = first_result("textDocument/documentSymbol", { textDocument = { uri = uri } }) or {}
  out.symbols = {}
  local function walk(list)
    for _, sym in ipairs(list) do
      table.insert(out.symbols, sym.name)
      walk(sym.children or {})
    end
  end
  walk(symbols)
  local rl, rline = find_line('policies: ["target-test"]')
  local def = first_result("textDocument/definition",
    { textDocument = { uri = uri }, position = { line = rl, character = rline:find("target", 1, true) + 2 } })
  if def and def[1] then
    def = def[1]
  end
  out.definition_line = def and (def.range or def.targetSelectionRange or def.targetRange).start.line
  out.policy_line = (find_line("- name: target-test"))
  step("hover, symbols, definition")

  -- 5. a server-announced command, run with the plugin's user command
  local before = #out.messages
  vim.cmd("VeladevCommand veladev.reloadCatalog")
  assert(vim.wait(60000, function()
    for i = before + 1, #out.messages do
      if out.messages[i]:find("bundled", 1, true) then
        out.command_message = out.messages[i]
        return true
      end
    end
    return false
  end, 100), "no message from veladev.reloadCatalog")
  step("server command run")

  -- 6. settings: a changed veladev.kubeconfig reaches the server, which tries it and says so
  local kubeconfig = "/nonexistent/veladev-test-kubeconfig"
  v.set_settings({ kubeconfig = kubeconfig })
  assert(vim.wait(60000, function()
    for _, m in ipairs(out.messages) do
      if m:find(kubeconfig, 1, true) then
        return true
      end
    end
    return false
  end, 100), "the server never mentioned the new kubeconfig")
  out.settings_message = true
  step("settings synced")

  -- 7. a plain Kubernetes YAML file is not given to the server
  -- The plugin decides on FileType, buffer by buffer: once an Application opened after the
  -- plain file is attached, the decision about the plain file has been made.
  vim.cmd("edit " .. vim.fn.fnameescape(os.getenv("VELADEV_PLAIN")))
  local plain = vim.api.nvim_get_current_buf()
  local second = vim.fn.fnamemodify(os.getenv("VELADEV_PLAIN"), ":h") .. "/second-app.yaml"
  vim.fn.writefile(vim.api.nvim_buf_get_lines(buf, 0, -1, false), second)
  vim.cmd("edit " .. vim.fn.fnameescape(second))
  local app2 = vim.api.nvim_get_current_buf()
  assert(vim.wait(60000, function()
    return #clients_for(app2) > 0
  end, 100), "an Application opened after the plain file was not attached")
  out.plain_filetype = vim.bo[plain].filetype
  out.plain_attached = #clients_for(plain)
  step("plain yaml checked")
end

vim.api.nvim_create_autocmd("VimEnter", {
  nested = true,
  once = true,
  callback = function()
    vim.schedule(function()
      local ok, err = xpcall(scenario, debug.traceback)
      finish(ok, not ok and tostring(err) or nil)
    end)
  end,
})
