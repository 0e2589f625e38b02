// globalSetup of every tier project (scripts/tiers.mjs): a tier asked for on a machine without its runtime fails
// here, once, with the reason, instead of test by test. `npm test` does not ask for such a tier: it skips it and says
// why at the end.
import { whyNot } from "./tiers.mjs"

export default async function setup(project) {
  const why = await whyNot(project.name)
  if (why !== undefined) {
    throw new Error(`the ${project.name} tier cannot run on this machine: ${why}. (npm test skips it and says so.)`)
  }
}
