// The seed's frontend: a page that shows its version, served on port 80 (or $PORT).
const http = require("http");
const fs = require("fs");
const path = require("path");

const port = Number(process.env.PORT || 80);
const versionFile = path.join(__dirname, "VERSION");

http
  .createServer((req, res) => {
    // Read on every request so that a synced edit shows without a restart.
    const version = fs.readFileSync(versionFile, "utf8").trim();
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    res.end(`<!doctype html><title>frontend</title><h1>frontend ${version}</h1>\n`);
  })
  .listen(port, () => console.log(`frontend listening on :${port}`));
