-- Headless Neovim scenario for test_neovim_placements.py: logs of a component that runs in three
-- clusters. :VeladevLogs offers the placements (vim.ui.select, stubbed here to pick
-- VELADEV_PICK) and streams the chosen cluster's log into its buffer; :VeladevLogs <cluster>
-- asks nothing; the Logs lens asks too. Environment: VELADEV_PLUGIN, VELADEV_CMD (JSON argv),
-- VELADEV_OUT (JSON result), VELADEV_KUBECONFIG, VELADEV_PICK, VELADEV_LENS_PICK.
vim.opt.rtp:prepend(os.getenv("VELADEV_PLUGIN"))
vim.opt.swapfile = false

local out = { steps = {}, offers = {} }
local function step(msg)
  table.insert(out.steps, msg)
end

local function log_buffers()
  local found = {}
  for _, buf in ipairs(vim.api.nvim_list_bufs()) do
    local name = vim.api.nvim_buf_get_name(buf)
    local at = name:find("veladev://logs/", 1, true)
    if at then
      found[name:sub(at)] = table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), "\n")
    end
  end
  return found
end

local function finish(ok, err)
  out.ok, out.error = ok, err
  out.log_buffers = log_buffers()
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

local v = require("veladev")
v.setup({
  cmd = vim.json.decode(os.getenv("VELADEV_CMD")),
  settings = { veladev = { kubeconfig = os.getenv("VELADEV_KUBECONFIG") } },
})

-- The user's answer: the lens titled "Logs" among a line's lenses, and the placement `pick`.
local pick = os.getenv("VELADEV_PICK")
vim.ui.select = function(items, opts, on_choice)
  local texts = {}
  for _, item in ipairs(items) do
    local text = (opts.format_item and opts.format_item(item)) or (item.command and item.command.title) or tostring(item)
    table.insert(texts, text)
  end
  if opts.kind == "veladev.placement" then
    table.insert(out.offers, { prompt = opts.prompt, items = texts })
  end
  for i, text in ipairs(texts) do
    if text == "Logs" or text:sub(1, #pick + 1) == pick .. "/" then
      return on_choice(items[i], i)
    end
  end
  on_choice(nil, nil)
end

local function wait_log(prefix, what)
  local ok = vim.wait(120000, function()
    for name, text in pairs(log_buffers()) do
      if name:sub(1, #prefix) == prefix and text:find("tick %d+") then
        return true
      end
    end
    return false
  end, 200)
  assert(ok, "no log " .. what .. " in a buffer " .. prefix .. "*: " .. vim.inspect(log_buffers()))
end

local function lens_line(bufnr, title)
  local found
  assert(vim.wait(90000, function()
    pcall(vim.lsp.codelens.refresh)
    for _, l in ipairs(vim.lsp.codelens.get(bufnr)) do
      if l.command and l.command.title == title then
        found = l.range.start.line
        return true
      end
    end
    return false
  end, 300), "no lens " .. title)
  return found
end

local function scenario()
  local bufnr = vim.api.nvim_get_current_buf()
  assert(vim.wait(60000, function()
    return #v.clients() > 0 and vim.lsp.buf_is_attached(bufnr, v.clients()[1].id)
  end, 100), "the server never attached")
  step("attached")
  local logs_line = lens_line(bufnr, "Logs") -- the server sees the clusters
  step("Logs lens shown")

  vim.cmd("VeladevLogs")
  wait_log("veladev://logs/web@" .. pick .. "/", "of the chosen cluster")
  step("logs of the chosen placement")

  vim.cmd("VeladevLogs edge-3")
  wait_log("veladev://logs/web@edge-3/", "of the named cluster")
  out.offers_after_named = #out.offers
  step("logs of the named cluster, no choice")

  pick = os.getenv("VELADEV_LENS_PICK")
  vim.api.nvim_win_set_cursor(0, { logs_line + 1, 0 })
  vim.lsp.codelens.run()
  wait_log("veladev://logs/web@" .. pick .. "/", "from the Logs lens")
  vim.cmd("VeladevLogsStop")
  step("logs from the lens")
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
