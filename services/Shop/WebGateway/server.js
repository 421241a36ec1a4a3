// WebGateway: a minimal HTTP server answering /healthz.
require("http").createServer((req, res) => {
  res.writeHead(req.url === "/healthz" ? 200 : 404);
  res.end(req.url === "/healthz" ? "ok\n" : "not found\n");
}).listen(8080);
