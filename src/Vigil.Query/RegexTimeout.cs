using System.Text.RegularExpressions;
using Vigil.Storage.Query;

namespace Vigil.Query;

/// <summary>
/// A matcher's regex that ran past its match timeout (<see cref="LabelMatcher"/>): the query APIs answer it as an
/// execution error naming the matcher (422, as Prometheus answers a query that cannot finish), not a 500.
/// </summary>
public static class RegexTimeout
{
    /// <summary>The execution error for a timeout of one of <paramref name="matchers"/>.</summary>
    public static PromQLException Error(RegexMatchTimeoutException e, IEnumerable<LabelMatcher> matchers) =>
        new(Describe(e, matchers), PromQLException.Execution);

    /// <summary>Which matcher timed out and what to do about it.</summary>
    public static string Describe(RegexMatchTimeoutException e, IEnumerable<LabelMatcher> matchers)
    {
        // LabelMatcher anchors the value as ^(?:value)$; that finds which of the query's matchers timed out.
        var matcher = matchers.FirstOrDefault(m => m.Op is MatchOp.Regex or MatchOp.NotRegex && e.Pattern == "^(?:" + m.Value + ")$");
        var which = matcher is null ? $"the regular expression {e.Pattern}" : $"the regular expression \"{matcher.Value}\" for label {matcher.Name}";
        return $"{which} took longer than {e.MatchTimeout.TotalMilliseconds:0}ms on a label value and was stopped; simplify it (nested repetition such as (a+)+ backtracks exponentially)";
    }
}
