// The template helper: interpolations escaped unless they are markup; arrays joined; falsy parts render nothing.
import { assert, describe, it } from "@effect/vitest"
import { Html } from "@porter/web"

describe("Html", () => {
  it("escapes text in content and quoted attributes", () => {
    const evil = `<script>alert("x")</script>'&`
    const out = Html.toString(Html.html`<p title="${evil}">${evil}</p>`)
    assert.strictEqual(
      out,
      `<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;&amp;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;&amp;</p>`
    )
  })

  it("keeps markup, joins arrays, drops undefined, null and booleans", () => {
    const items = ["a<", "b"].map((x) => Html.html`<li>${x}</li>`)
    const out = Html.toString(Html.html`<ul>${items}${undefined}${null}${false}${true}${0}</ul>${Html.raw("&nbsp;")}`)
    assert.strictEqual(out, "<ul><li>a&lt;</li><li>b</li>0</ul>&nbsp;")
    assert.strictEqual(Html.toString(Html.join(["x", Html.html`<b>y</b>`], ", ")), "x, <b>y</b>")
  })
})
