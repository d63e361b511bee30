import { benchFitCost } from '/work/main/bench/scaling/fit-cost.ts';
console.log(JSON.stringify(await benchFitCost([1, 4, 16, 64], 10), null, 1));
