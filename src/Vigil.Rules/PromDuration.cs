using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Vigil.Rules;

/// <summary>Durations written the Prometheus way: <c>30s</c>, <c>5m</c>, <c>1h30m</c>, <c>1d</c>, <c>250ms</c>.</summary>
public static partial class PromDuration
{
    [GeneratedRegex(@"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();

    private static readonly TimeSpan[] Units =
    [
        TimeSpan.FromDays(7), TimeSpan.FromDays(1), TimeSpan.FromHours(1),
        TimeSpan.FromMinutes(1), TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(1),
    ];

    public static bool TryParse(string? text, out TimeSpan value)
    {
        value = TimeSpan.Zero;
        if (string.IsNullOrEmpty(text))
        {
            return false;
        }

        if (text == "0")
        {
            return true;
        }

        var match = Pattern().Match(text);
        if (!match.Success)
        {
            return false;
        }

        var any = false;
        long ticks = 0;
        for (var i = 0; i < Units.Length; i++)
        {
            var group = match.Groups[i + 1];
            if (!group.Success)
            {
                continue;
            }

            any = true;
            if (!long.TryParse(group.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var n))
            {
                return false;
            }

            ticks += n * Units[i].Ticks;
        }

        value = TimeSpan.FromTicks(ticks);
        return any;
    }

    public static string Format(TimeSpan value)
    {
        if (value <= TimeSpan.Zero)
        {
            return "0s";
        }

        var sb = new StringBuilder();
        var ticks = value.Ticks;
        string[] suffixes = ["w", "d", "h", "m", "s", "ms"];
        for (var i = 0; i < Units.Length; i++)
        {
            var n = ticks / Units[i].Ticks;
            if (n > 0)
            {
                sb.Append(n.ToString(CultureInfo.InvariantCulture)).Append(suffixes[i]);
                ticks -= n * Units[i].Ticks;
            }
        }

        return sb.Length == 0 ? "0s" : sb.ToString();
    }
}
