// Chat page: send a message, stream the agent's reply into the transcript as plain text.
// Text is only ever set with textContent, so nothing a model writes can become markup.
(function () {
  "use strict";
  const form = document.getElementById("chat-form");
  const input = document.getElementById("message");
  const button = document.getElementById("send");
  const transcript = document.getElementById("transcript");

  function bubble(role, text) {
    const li = document.createElement("li");
    li.className = "turn " + role;
    const who = document.createElement("span");
    who.className = "speaker";
    who.textContent = role === "seeker" ? "You" : "Agent";
    const body = document.createElement("span");
    body.className = "text";
    body.textContent = text;
    li.append(who, " ", body);
    transcript.append(li);
    return body;
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    button.disabled = true;
    bubble("seeker", text);
    const reply = bubble("supporter", "");
    try {
      const response = await fetch(form.dataset.send, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": form.dataset.csrf },
        body: JSON.stringify({ text: text }),
      });
      if (!response.ok) {
        let detail = response.statusText;
        try { detail = (await response.json()).detail; } catch (e) { /* not JSON */ }
        reply.textContent = "[error: " + detail + "]";
        return;
      }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        reply.textContent += decoder.decode(value, { stream: true });
      }
      reply.textContent += decoder.decode();
      reply.parentElement.dataset.done = "1";
    } finally {
      button.disabled = false;
      input.focus();
    }
  });
})();
