const crypto = require("node:crypto");
const http = require("node:http");

const SECRET = process.env.WEBHOOK_SECRET;

function answer(res, status, doc) {
  res.writeHead(status, { "Content-Type": "application/json" });
  res.end(JSON.stringify(doc));
}

http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks);
    const ts = req.headers["x-latchkey-timestamp"] || "";
    const want = Buffer.from("sha256=" + crypto.createHmac("sha256", SECRET)
      .update(ts + ".").update(body).digest("hex"));
    const got = Buffer.from(req.headers["x-latchkey-signature"] || "");
    const fresh = /^\d+$/.test(ts) && Math.abs(Date.now() / 1000 - Number(ts)) <= 300;
    if (!fresh || got.length !== want.length || !crypto.timingSafeEqual(got, want)) {
      return answer(res, 400, { error: "bad signature" });
    }
    const { username, password } = JSON.parse(body);
    if (username !== "demo") return answer(res, 401, { error: "unknown_user" });
    const pw = Buffer.from(password), good = Buffer.from("demo password");
    if (pw.length !== good.length || !crypto.timingSafeEqual(pw, good)) return answer(res, 401, {});
    answer(res, 200, { subject: "demo-1", username: "demo", email: "demo@example.com",
      email_verified: true, name: "Demo User", groups: ["staff"] });
  });
}).listen(Number(process.env.WEBHOOK_PORT || 9090), "127.0.0.1");
