// A machine that idles until it is destroyed, like a runner waiting on its agent.
setInterval(() => {}, 1000)
