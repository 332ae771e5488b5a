// Picks one candidate by pairwise judging, N−1 judgements for N valid candidates.
// - "bracket" (ours, default): balanced single elimination; all matches of a round judged in one batch.
// - "knockout" (the reference's): two random candidates are judged, the winner goes back into the pool.
// Malformed candidates are excluded before pairing (the reference dropped them silently and shifted the
// judge's indices); for REASONING, each reasoning is first checked alone, and an incorrect one loses its
// match without a pairwise judgement. Losers are disposed as soon as they lose.
import { checkReasonings, judgePairs, type Match } from "./judge.js";
import type { Candidate, SearchRun } from "./search.js";
import { deriveSeed } from "./seeds.js";
import { seededRandom } from "../seeded-random.js";
import { withRoom } from "./room.js";
import type { CandidateKind } from "./trace.js";

export interface TournamentOptions {
  round: number;
  hint?: string;
  /** REASONING: the winning caption, trusted information for the reasoning check. */
  caption?: string;
}

/**
 * The winner among the valid candidates; the others are released. Null if none is valid — then nothing
 * is released and the caller decides.
 */
export async function tournament(run: SearchRun, kind: CandidateKind, candidates: Candidate[], o: TournamentOptions): Promise<Candidate | null> {
  try {
    return await playTournament(run, kind, candidates, o);
  } finally {
    await run.releaseJudgeLeads(); // the judges' shared leads serve this tournament only
  }
}

async function playTournament(run: SearchRun, kind: CandidateKind, candidates: Candidate[], o: TournamentOptions): Promise<Candidate | null> {
  const valid = candidates.filter((c) => c.record.valid);
  if (valid.length === 0) return null;
  await run.release(...candidates.filter((c) => !c.record.valid).map((c) => c.sequence));

  const verdicts =
    kind === "REASONING" && valid.length > 1
      ? await withRoom(run.engine, () => checkReasonings(run, valid, o.caption ?? "", o.round), async () => {})
      : new Map();
  const play = async (matches: Match[]): Promise<Candidate[]> => {
    const winners: (Candidate | null)[] = matches.map((m) => {
      if (verdicts.get(m.first.record.id) === "incorrect") return m.second;
      if (verdicts.get(m.second.record.id) === "incorrect") return m.first;
      return null;
    });
    const judged = matches.filter((_, i) => winners[i] === null);
    const judgedWinners = await withRoom(run.engine, () => judgePairs(run, kind, judged, o.round, o.hint), async () => {});
    let j = 0;
    const result = winners.map((w) => w ?? judgedWinners[j++]!);
    await run.release(...matches.map((m, i) => (result[i] === m.first ? m.second : m.first).sequence));
    return result;
  };

  let winner: Candidate;
  if (run.options.tournament === "knockout") {
    const random = seededRandom(deriveSeed(run.options.seed, "knockout", kind, o.round));
    const pool = [...valid];
    while (pool.length > 1) {
      const a = pool.splice(Math.floor(random() * pool.length), 1)[0]!;
      const b = pool.splice(Math.floor(random() * pool.length), 1)[0]!;
      pool.push((await play([{ first: a, second: b }]))[0]!);
    }
    winner = pool[0]!;
  } else {
    let field = valid;
    while (field.length > 1) {
      const matches: Match[] = [];
      for (let i = 0; i + 1 < field.length; i += 2) matches.push({ first: field[i]!, second: field[i + 1]! });
      const bye = field.length % 2 === 1 ? [field[field.length - 1]!] : [];
      field = [...(await play(matches)), ...bye];
    }
    winner = field[0]!;
  }
  winner.record.won = true;
  return winner;
}
