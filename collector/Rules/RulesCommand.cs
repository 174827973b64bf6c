using Vigil.Rules;

namespace Vigil.Collector.Rules;

/// <summary>
/// <c>vigil rules check FILE|DIR…</c>, <c>vigil rules test FILE… [--mutate]</c> and
/// <c>vigil rules backtest FILE… --server URL</c> (<see cref="BacktestCommand"/>): exit 0 ok, 1 problems or failures, 2 usage.
/// </summary>
public static class RulesCommand
{
    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        if (args.Length > 0 && args[0] == "backtest")
        {
            return BacktestCommand.RunAsync(args[1..], output, error).GetAwaiter().GetResult();
        }

        if (args.Length < 2 || args[0] is not ("check" or "test"))
        {
            error.WriteLine("usage: vigil rules check FILE|DIR...   (validate rule files; one line per problem, file:line:col: message)");
            error.WriteLine("       vigil rules test FILE|DIR...    (run rule unit tests; expected vs actual on failure)");
            error.WriteLine("       vigil rules test FILE|DIR... --mutate [--min-score PERCENT]   (rule edits the tests miss, and the score)");
            error.WriteLine("       vigil rules backtest FILE... --server URL [--from T] [--to T] [--token T]   (replay rules over a running Vigil's data)");
            return 2;
        }

        return args[0] == "check" ? RulesCli.Check(args[1..], output) : RulesCli.Test(args[1..], output);
    }
}
