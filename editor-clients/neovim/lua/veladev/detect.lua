-- Which buffers are KubeVela Applications: a YAML document with `apiVersion: core.oam.dev/...`
-- and `kind: Application` at the top level (same rule as the VS Code client's detect.ts).
local M = {}

local function strip(line)
  return (line:gsub("\r$", ""))
end

local function is_api_version(line)
  return line:match([[^apiVersion:%s*["']?core%.oam%.dev/%w+["']?%s*$]]) ~= nil
    or line:match([[^apiVersion:%s*["']?core%.oam%.dev/%w+["']?%s+#]]) ~= nil
end

local function is_kind_application(line)
  return line:match([[^kind:%s*["']?Application["']?%s*$]]) ~= nil
    or line:match([[^kind:%s*["']?Application["']?%s+#]]) ~= nil
end

--- True when one document of the lines (a list of strings) is a KubeVela Application.
function M.is_application_lines(lines)
  local api, kind = false, false
  for _, raw in ipairs(lines) do
    local line = strip(raw)
    if line:match("^%-%-%-%s*$") or line:match("^%-%-%-%s+#") then
      if api and kind then
        return true
      end
      api, kind = false, false
    else
      api = api or is_api_version(line)
      kind = kind or is_kind_application(line)
    end
  end
  return api and kind
end

function M.is_application(bufnr)
  return M.is_application_lines(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false))
end

return M
