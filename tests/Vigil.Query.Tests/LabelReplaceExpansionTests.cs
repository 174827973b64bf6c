using System.Text.RegularExpressions;
using Vigil.Query.Evaluation;

namespace Vigil.Query.Tests;

/// <summary>label_replace expands its replacement as Go's regexp.Expand, not as .NET's Match.Result (issue #11 item 3).</summary>
public sealed class LabelReplaceExpansionTests
{
    [Theory]
    [InlineData("$1x", "")] // Go reads the name "1x", which no group has
    [InlineData("${1}x", "ax")]
    [InlineData("$1-$2", "a-")] // group 2 did not take part in the match
    [InlineData("$10", "")] // no group 10; .NET would write group 1 then "0"
    [InlineData("$01", "")] // a leading zero makes it a name
    [InlineData("$$1", "$1")]
    [InlineData("$", "$")]
    [InlineData("$-", "$-")]
    [InlineData("${1", "${1")]
    [InlineData("${}", "${}")]
    [InlineData("$&$+$_", "$&$+")] // .NET's specials: $& and $+ are text in Go, $_ names a group "_", absent
    [InlineData("$q/${q}s/$qs", "a/as/")]
    [InlineData("$é", "")] // letters are Unicode letters, as Go's unicode.IsLetter
    [InlineData("pre-$0-post", "pre-ab-post")]
    public void Replacement_ExpandsAsGoRegexpExpand(string template, string expected)
    {
        // Group 1 is (a), group 2 (c) does not take part; the second regex names its group q.
        var regex = template.Contains('q', StringComparison.Ordinal) ? new Regex("^(?:(?<q>a)b)$") : new Regex("^(?:(a)(c)?b)$");

        Assert.Equal(expected, LabelFunctions.Expand(template, regex, regex.Match("ab")));
    }

    [Fact]
    public void LabelReplace_WithGoOnlyForms_SetsOrRemovesTheLabel()
    {
        var h = QueryHarness.QueueDepth();

        var braced = h.Vector("label_replace(queue_depth, \"x\", \"${1}x\", \"host\", \"(.*)\")", 180);
        var unbraced = h.Vector("label_replace(queue_depth, \"x\", \"$1x\", \"host\", \"(.*)\")", 180);

        Assert.Equal(200, braced["queue_depth{host=\"a\", x=\"ax\"}"]);
        Assert.Equal(200, unbraced["queue_depth{host=\"a\"}"]); // empty: no label x
    }
}
