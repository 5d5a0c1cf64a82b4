-- Headless Neovim scenario for test_neovim_lenses.py: code lenses from the live sandbox, Deploy
-- through its user command, Promote run from its lens (vim.lsp.codelens.run), progress seen.
-- Environment: VELADEV_PLUGIN, VELADEV_CMD (JSON argv), VELADEV_OUT (JSON result), VELADEV_KUBECONFIG.
vim.opt.rtp:prepend(os.getenv("VELADEV_PLUGIN"))
vim.opt.swapfile = false

local out = { steps = {}, messages = {} }
local function step(msg)
  table.insert(out.steps, msg)
end
local function finish(ok, err)
  out.ok, out.error = ok, err
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

local show_message = vim.lsp.handlers["window/showMessage"]
vim.lsp.handlers["window/showMessage"] = function(err, params, ctx, config)
  table.insert(out.messages, params and params.message or "")
  return show_message(err, params, ctx, config)
end

local v = require("veladev")
v.setup({
  cmd = vim.json.decode(os.getenv("VELADEV_CMD")),
  settings = { veladev = { kubeconfig = os.getenv("VELADEV_KUBECONFIG") } },
})

local function lens_titles(bufnr)
  local titles = {}
  for _, l in ipairs(vim.lsp.codelens.get(bufnr)) do
    if l.command then
      table.insert(titles, { line = l.range.start.line, title = l.command.title })
    end
  end
  return titles
end

local function find(bufnr, pred)
  for _, t in ipairs(lens_titles(bufnr)) do
    if pred(t) then
      return t
    end
  end
end

local function wait_lens(bufnr, pred, what)
  local found
  local ok = vim.wait(90000, function()
    pcall(vim.lsp.codelens.refresh)
    found = find(bufnr, pred)
    return found ~= nil
  end, 300)
  assert(ok, "no lens " .. what .. ": " .. vim.inspect(lens_titles(bufnr)))
  return found
end

local function scenario()
  local bufnr = vim.api.nvim_get_current_buf()
  assert(vim.wait(60000, function()
    return #v.clients() > 0 and vim.lsp.buf_is_attached(bufnr, v.clients()[1].id)
  end, 100), "the server never attached")
  step("attached")

  local deploy = wait_lens(bufnr, function(t) return t.title == "Deploy" end, "Deploy")
  out.deploy_line = deploy.line
  wait_lens(bufnr, function(t) return t.title == "phase: not deployed" end, "phase: not deployed")
  step("lenses before deploy")
  out.user_commands = vim.tbl_keys(vim.api.nvim_get_commands({}))
  vim.cmd("VeladevDeploy")
  local promote = wait_lens(bufnr, function(t) return t.title == "Promote" end, "Promote")
  out.promote_line = promote.line
  out.titles_suspended = lens_titles(bufnr)
  step("deployed; Promote lens shown")

  -- Run the Promote lens from its line, choosing it among that line's lenses.
  vim.api.nvim_win_set_cursor(0, { promote.line + 1, 0 })
  vim.ui.select = function(items, opts, on_choice)
    for i, item in ipairs(items) do
      local title = (item.command and item.command.title) or (item[1] and item[1].command and item[1].command.title)
        or (opts.format_item and opts.format_item(item)) or ""
      if title:find("Promote", 1, true) then
        return on_choice(item, i)
      end
    end
    on_choice(nil, nil)
  end
  vim.lsp.codelens.run()
  wait_lens(bufnr, function(t) return t.title:find("succeeded", 1, true) and t.line > promote.line end,
    "a succeeded step after the gate")
  out.titles_done = lens_titles(bufnr)
  vim.wait(60000, function()
    for _, m in ipairs(out.messages) do
      if m:find("promoted", 1, true) then
        return true
      end
    end
    return false
  end, 100)
  out.progress = require("veladev.actions").progress
  step("promoted from the lens")
end

-- After start-up, once the file's buffer is loaded and attached.
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
