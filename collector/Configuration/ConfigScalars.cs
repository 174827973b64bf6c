using System.Globalization;
using System.Text.RegularExpressions;
using Vigil.Storage;

namespace Vigil.Collector.Configuration;

/// <summary>
/// How one scalar setting is read, for ConfigLoader's sections and YamlBinder's alike. A value that
/// does not fit its type is a problem, never wrapped or clamped: each method returns what is wrong
/// (without the place, which the caller knows), or null and the value.
/// </summary>
internal static partial class ConfigScalars
{
    private static readonly (string Suffix, long Factor)[] SizeUnits =
        [("KiB", 1L << 10), ("MiB", 1L << 20), ("GiB", 1L << 30), ("TiB", 1L << 40), ("KB", 1L << 10), ("MB", 1L << 20), ("GB", 1L << 30), ("TB", 1L << 40), ("B", 1)];

    private const NumberStyles Integers = NumberStyles.AllowLeadingSign | NumberStyles.AllowLeadingWhite | NumberStyles.AllowTrailingWhite;

    private static readonly string[] DurationUnits = ["ms", "s", "m", "h", "d", "w"];

    public static string? Int(string? text, out int value)
    {
        if (int.TryParse(text, Integers, CultureInfo.InvariantCulture, out value))
        {
            return null;
        }

        return text is not null && WholeNumber().IsMatch(text)
            ? $"'{text}' is out of range (at most {int.MaxValue})"
            : $"'{text}' is not a whole number";
    }

    public static string? Long(string? text, out long value)
    {
        if (long.TryParse(text, Integers, CultureInfo.InvariantCulture, out value))
        {
            return null;
        }

        return text is not null && WholeNumber().IsMatch(text)
            ? $"'{text}' is out of range (at most {long.MaxValue})"
            : $"'{text}' is not a whole number";
    }

    /// <summary>A finite number: 1e400 (infinity once parsed) and NaN are refused here, not left to each range check.</summary>
    public static string? Double(string? text, out double value)
    {
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value) || double.IsNaN(value))
        {
            return $"'{text}' is not a number";
        }

        return double.IsInfinity(value) ? $"'{text}' is out of range (not a finite number)" : null;
    }

    /// <summary>Sizes as bytes or with a unit: 512KiB, 20MiB, 1GiB (also KB/MB/GB as binary units).</summary>
    public static string? Size(string? text, out long bytes)
    {
        bytes = 0;
        var trimmed = text?.Trim() ?? string.Empty;
        var factor = 1L;
        var digits = trimmed;
        foreach (var (suffix, unit) in SizeUnits)
        {
            if (trimmed.EndsWith(suffix, StringComparison.OrdinalIgnoreCase))
            {
                factor = unit;
                digits = trimmed[..^suffix.Length].Trim();
                break;
            }
        }

        if (!Digits().IsMatch(digits))
        {
            return $"'{text}' is not a size; write e.g. 20MiB, 512KiB or a number of bytes";
        }

        if (!long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var count) || count > long.MaxValue / factor)
        {
            return $"'{text}' is out of range (at most {long.MaxValue} bytes)";
        }

        bytes = count * factor;
        return null;
    }

    public static string? Duration(string? text, out TimeSpan duration)
    {
        if (DurationFormat.TryParse(text, out duration))
        {
            return null;
        }

        // Well formed but past what TimeSpan holds (about 29,000 years): say so, rather than "not a duration".
        return WellFormedDuration(text)
            ? $"'{text}' is out of range (far longer than any setting allows)"
            : $"'{text}' is not a duration; write e.g. 10s, 5m, 1h30m";
    }

    private static bool WellFormedDuration(string? text)
    {
        var match = text is null ? Match.Empty : DurationShape().Match(text);
        if (!match.Success)
        {
            return false;
        }

        var previous = int.MaxValue;
        foreach (Capture unit in match.Groups[2].Captures)
        {
            var rank = Array.IndexOf(DurationUnits, unit.Value);
            if (rank >= previous)
            {
                return false;
            }

            previous = rank;
        }

        return true;
    }

    public static string? Boolean(string? text, out bool value) =>
        bool.TryParse(text, out value) ? null : $"'{text}' is not true or false";

    [GeneratedRegex(@"^\s*[+-]?\d+\s*$")]
    private static partial Regex WholeNumber();

    [GeneratedRegex(@"^\d+$")]
    private static partial Regex Digits();

    [GeneratedRegex(@"^\s*(\d+(ms|s|m|h|d|w))+\s*$")]
    private static partial Regex DurationShape();
}
